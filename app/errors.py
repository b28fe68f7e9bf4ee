"""The one exception every entry point understands as "fix the configuration, then start again".

It lives apart from `app.config` so that the command line can catch it without importing pydantic.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """The configuration cannot work; the message says what to change (the CLI prints it, exit 2)."""
