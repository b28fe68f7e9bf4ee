"""The Optimove adapter: the REST client, its error tree, and the (partly inferred) wire contract.

Import from the submodules (``client``, ``errors``, ``contract``, ``models``); this package module
stays empty so that parsing a webhook with ``contract`` does not load the HTTP stack.
"""
