"""Finding futures and states inside task arguments, waiting for them, and recording
which upstream runs fed a task run."""

from __future__ import annotations

import inspect
from typing import Any

from tideflow.engine.futures import TideflowFuture, allow_failure, quote, unmapped
from tideflow.states import State, StateType

_ATOMIC = frozenset({int, float, str, bool, bytes, type(None), complex})
_MAX_DEPTH = 4


class UpstreamFailure(Exception):
    """Internal: an upstream run did not complete and failures are not allowed."""

    def __init__(self, name: str, state: State[Any]) -> None:
        super().__init__(name)
        self.name = name
        self.state = state


def find_futures(value: Any, found: list[TideflowFuture[Any]], depth: int = 0) -> None:
    """Collect futures inside ``value`` (lists, tuples, sets, dicts, a few levels deep)."""
    cls = type(value)
    if cls in _ATOMIC:
        return
    if cls is TideflowFuture:
        found.append(value)
    elif cls in (list, tuple, set, frozenset) and depth < _MAX_DEPTH:
        for item in value:
            if type(item) not in _ATOMIC:
                find_futures(item, found, depth + 1)
    elif cls is dict and depth < _MAX_DEPTH:
        for item in value.values():
            if type(item) not in _ATOMIC:
                find_futures(item, found, depth + 1)
    elif cls is allow_failure or cls is unmapped:
        find_futures(value.value, found, depth + 1)


def resolve(value: Any, inputs: list[dict[str, str]], allow: bool = False, depth: int = 0) -> Any:
    """``value`` with futures and states replaced by their results.

    Appends ``{"input_type": "task_run", "id": ...}`` to ``inputs`` for each upstream run.

    Raises:
        UpstreamFailure: an upstream did not complete and ``allow`` is False.
    """
    cls = type(value)
    if cls in _ATOMIC:
        return value
    if cls is TideflowFuture:
        state = value.wait()
        inputs.append({"input_type": "task_run", "id": value.task_run_id})
        return _state_value(state, value.task_name, allow)
    if isinstance(value, State):
        return _state_value(value, value.name, allow)
    if cls is allow_failure:
        return resolve(value.value, inputs, True, depth + 1)
    if cls is quote:
        return value.value
    if cls is unmapped:
        return resolve(value.value, inputs, allow, depth + 1)
    if depth >= _MAX_DEPTH:
        return value
    if cls is list or cls is tuple or cls is set or cls is frozenset:
        if all(type(item) in _ATOMIC for item in value):
            return value
        return cls(resolve(item, inputs, allow, depth + 1) for item in value)
    if cls is dict:
        if all(type(item) in _ATOMIC for item in value.values()):
            return value
        return {k: resolve(v, inputs, allow, depth + 1) for k, v in value.items()}
    return value


def _state_value(state: State[Any], name: str, allow: bool) -> Any:
    if state.type is StateType.COMPLETED:
        return state.result()
    if allow:
        return state.result(raise_on_failure=False)
    raise UpstreamFailure(name, state)


def resolve_parameters(
    parameters: dict[str, Any], wait_for: list[Any] | None
) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """Resolve every parameter and ``wait_for`` entry; returns (values, task_inputs)."""
    task_inputs: dict[str, list[dict[str, str]]] = {}
    resolved: dict[str, Any] = {}
    for name, value in parameters.items():
        if type(value) in _ATOMIC:
            resolved[name] = value
            continue
        inputs: list[dict[str, str]] = []
        resolved[name] = resolve(value, inputs)
        if inputs:
            task_inputs[name] = inputs
    if wait_for:
        inputs = []
        for item in wait_for:
            resolve(item, inputs)
        if inputs:
            task_inputs["wait_for"] = inputs
    return resolved, task_inputs


def call_arguments(
    signature: inspect.Signature, parameters: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword arguments that pass ``parameters`` back to the function
    (needed when it takes ``*args``/``**kwargs`` or positional-only parameters)."""
    bound = inspect.BoundArguments(signature, parameters)
    return bound.args, bound.kwargs
