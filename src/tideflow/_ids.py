"""Fast unique ids.

``uuid.uuid4()`` reads the OS entropy pool on every call; on some virtual machines that
costs ~20 µs, several times per task run. Run ids need uniqueness, not secrecy, so we
draw 122 random bits from the ``random`` module's generator, which the interpreter seeds
from the OS once and re-seeds in every forked child (so forked agents never collide).
"""

from __future__ import annotations

import random

_getrandbits = random.getrandbits


def new_id() -> str:
    """A random (version 4 format) UUID string."""
    h = f"{_getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_key() -> str:
    """A random 32-hex-digit key (log line idempotency keys)."""
    return f"{_getrandbits(128):032x}"
