"""Validating and coercing flow parameters from type hints (pydantic)."""

from __future__ import annotations

import inspect
import logging
import typing
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, ValidationError, create_model

from tideflow.engine.inputs import _ATOMIC, UpstreamFailure, resolve_parameters
from tideflow.exceptions import ParameterTypeError, SignatureMismatchError, UpstreamTaskError

if TYPE_CHECKING:
    from tideflow.flows import Flow

_log = logging.getLogger("tideflow.flow_runs")


def bind_parameters(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Bind call arguments to the flow's parameters, defaults applied."""
    try:
        bound = flow.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise SignatureMismatchError(
            f"Flow {flow.name!r} called with bad arguments: {exc}"
        ) from None
    bound.apply_defaults()
    parameters = dict(bound.arguments)
    if any(type(v) not in _ATOMIC for v in parameters.values()):
        # A subflow called with a task's future or state gets its value, as in Prefect.
        try:
            parameters, _ = resolve_parameters(parameters, None)
        except UpstreamFailure as failure:
            raise UpstreamTaskError(
                f"Flow {flow.name!r} was called with the result of {failure.name!r}, which "
                f"did not complete (it is {failure.state.name}): {failure.state.message}"
            ) from None
    return parameters


def _resolved_hints(fn: Any) -> dict[str, Any]:
    """The function's type hints with string annotations evaluated.

    Modules with ``from __future__ import annotations`` give ``inspect.signature``
    strings such as ``"Config"``; pydantic cannot resolve those from here, so they are
    evaluated in the function's own globals. A hint that cannot be evaluated (a name
    only imported under ``TYPE_CHECKING``, a class local to a function) is left out and
    its parameter is not validated.
    """
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:
        pass
    hints: dict[str, Any] = {}
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # the user's own type hint
            except Exception:
                continue
        hints[name] = annotation
    return hints


def _validator(flow: Flow[..., Any]) -> Any:
    if flow._validator is None:
        fields: dict[str, Any] = {}
        annotated = False
        hints = _resolved_hints(flow.fn)
        for name, param in flow.signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = param.annotation
            if annotation is inspect.Parameter.empty:
                annotation = Any
            else:
                annotation = hints.get(name, Any)
                annotated = True
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (annotation, default)
        model: Any = False
        if annotated:
            try:
                model = create_model(
                    f"{flow.name}Parameters",
                    __config__=ConfigDict(arbitrary_types_allowed=True),
                    **fields,
                )
                model.model_rebuild()
            except Exception as exc:
                _log.warning(
                    "Parameters of flow %r cannot be validated from its type hints (%s); "
                    "they are passed as given",
                    flow.name,
                    exc,
                )
                model = False
        flow._validator = model
    return flow._validator


def validate_parameters(flow: Flow[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Coerce ``parameters`` to the flow's type hints.

    Raises:
        ParameterTypeError: naming each bad parameter, its value and what was expected.
    """
    model = _validator(flow)
    if not model:
        return parameters
    sig = flow.signature.parameters
    # Defaults are trusted as written (the seed's `date: str = None` is common), so only
    # values the caller actually passed are validated.
    known = {
        k: v for k, v in parameters.items() if k in model.model_fields and v is not sig[k].default
    }
    try:
        validated = model.model_validate(known)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            value = err.get("input")
            problems.append(f"parameter {loc!r} got {value!r}: {err['msg']}")
        raise ParameterTypeError(
            f"Flow {flow.name!r} received invalid parameters: " + "; ".join(problems)
        ) from None
    out = dict(parameters)
    for name in known:
        out[name] = getattr(validated, name)
    return out
