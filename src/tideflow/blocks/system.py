"""Simple value blocks, as in ``prefect.blocks.system``: ``Secret``, ``String``, ``JSON``,
``DateTime``.

Example:
    >>> from tideflow.blocks.system import Secret
    >>> Secret(value="hunter2")
    Secret(value=SecretStr('**********'))
    >>> Secret(value="hunter2").get()
    'hunter2'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import SecretStr

from tideflow.blocks.core import Block


class Secret(Block):
    """A secret string (an API token, a password), stored encrypted.

    Example: ``Secret(value="...").save("openai-key")`` then
    ``Secret.load("openai-key").get()``.
    """

    value: SecretStr

    def get(self) -> str:
        """The secret in clear."""
        return self.value.get_secret_value()


class String(Block):
    """A plain string value."""

    value: str


class JSON(Block):
    """Any JSON-serializable value (dicts, lists, numbers, strings)."""

    value: Any


class DateTime(Block):
    """A date and time."""

    value: datetime


__all__ = ["JSON", "DateTime", "Secret", "String"]
