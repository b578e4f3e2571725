"""Modules loaded on first attribute access (the standard library's ``LazyLoader``).

Used where a feature most scripts never touch would otherwise be imported by every
``python my_flow.py``: the embedded client's deployment and block halves pull in
schedules, croniter and cryptography (~0.1 s), which a plain flow run does not need.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name``, imported for real only when one of its attributes is first used."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
