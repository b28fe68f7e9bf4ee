"""Reward activators: where a validated claim's reward is actually granted.

The contract every activator keeps is the ``RewardActivator`` port (``app.services.ports``); the
values crossing it live in ``app.domain.rewards``. Built in: an HTTP activator that POSTs each
grant to the operator's platform (``activators.http``), and a wallet ledger in our own database for
demos and tests (``activators.wallet``). The composition root picks one.
"""
