"""``with tags("a", "b"):`` adds tags to every run started inside the block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tideflow.engine.context import tags_ctx


@contextmanager
def tags(*new_tags: str) -> Iterator[frozenset[str]]:
    """Add tags to flow runs and task runs created inside this block.

    Example:
        >>> from tideflow import tags
        >>> with tags("nightly", "ml"):
        ...     pass
    """
    for tag in new_tags:
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"tags must be non-empty strings, got {tag!r}")
    current = tags_ctx.get()
    merged = current | frozenset(new_tags)
    token = tags_ctx.set(merged)
    try:
        yield merged
    finally:
        tags_ctx.reset(token)
