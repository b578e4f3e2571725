"""The ``@flow`` decorator and the ``Flow`` object (definition only, no running).

Calling a flow runs it: parameters are validated from type hints, a flow run is
recorded, tasks called inside become its task runs, and a flow called inside another
flow becomes a subflow run. The running itself lives in ``tideflow.engine``.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from tideflow.serializers import Serializer
    from tideflow.task_runners import TaskRunner

P = ParamSpec("P")
R = TypeVar("R")
StateHook = Callable[..., Any]


class Flow(Generic[P, R]):
    """A function turned into an observable, retryable workflow.

    Create one with ``@flow``. ``fn`` is the undecorated function.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        flow_run_name: str | Callable[[], str] | None = None,
        task_runner: TaskRunner | type[TaskRunner] | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Serializer | str | None = None,
        cache_result_in_memory: bool = True,
        log_prints: bool | None = None,
        tags: Iterable[str] | None = None,
        on_completion: list[StateHook] | None = None,
        on_failure: list[StateHook] | None = None,
        on_cancellation: list[StateHook] | None = None,
        on_crashed: list[StateHook] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {type(fn).__name__}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be a non-negative int, got {retries!r}")
        if retry_delay_seconds < 0:
            raise ValueError(f"retry_delay_seconds must be >= 0, got {retry_delay_seconds!r}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        for hook_name, hooks in (
            ("on_completion", on_completion),
            ("on_failure", on_failure),
            ("on_cancellation", on_cancellation),
            ("on_crashed", on_crashed),
        ):
            if hooks is not None and (
                not isinstance(hooks, list | tuple) or not all(callable(h) for h in hooks)
            ):
                raise TypeError(f"{hook_name} must be a list of callables, got {hooks!r}")
        self.fn = fn
        self.name: str = name or getattr(fn, "__name__", type(fn).__name__).replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self._version = version
        self.flow_run_name = flow_run_name
        self.task_runner = task_runner
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.should_validate_parameters = validate_parameters
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.cache_result_in_memory = cache_result_in_memory
        self.log_prints = log_prints
        self.tags: frozenset[str] = frozenset(tags or ())
        self.on_completion = list(on_completion or [])
        self.on_failure = list(on_failure or [])
        self.on_cancellation = list(on_cancellation or [])
        self.on_crashed = list(on_crashed or [])
        self.isasync = inspect.iscoroutinefunction(fn)
        self._signature: inspect.Signature | None = None
        self._validator: Any = None
        update_wrapper(self, fn)

    @property
    def version(self) -> str | None:
        """The given version, else a hash of the flow's source (None if unavailable)."""
        if self._version is None:
            try:
                source = inspect.getsource(self.fn)
            except (OSError, TypeError):
                return None
            self._version = hashlib.sha256(source.encode()).hexdigest()[:16]
        return self._version

    @property
    def signature(self) -> inspect.Signature:
        """The wrapped function's signature (computed once)."""
        if self._signature is None:
            self._signature = inspect.signature(self.fn)
        return self._signature

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Validate and coerce parameters from the function's type hints.

        Raises:
            ParameterTypeError: naming the parameter, the value and the expected type.
        """
        from tideflow.engine.parameters import validate_parameters

        return validate_parameters(self, parameters)

    def with_options(self, **changes: Any) -> Flow[P, R]:
        """A copy of this flow with some decorator arguments changed."""
        options = {
            "name": self.name,
            "description": self.description,
            "version": self._version,
            "flow_run_name": self.flow_run_name,
            "task_runner": self.task_runner,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
            "validate_parameters": self.should_validate_parameters,
            "persist_result": self.persist_result,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
            "cache_result_in_memory": self.cache_result_in_memory,
            "log_prints": self.log_prints,
            "tags": set(self.tags),
            "on_completion": list(self.on_completion),
            "on_failure": list(self.on_failure),
            "on_cancellation": list(self.on_cancellation),
            "on_crashed": list(self.on_crashed),
        }
        unknown = set(changes) - set(options)
        if unknown:
            raise TypeError(
                f"with_options() got unknown option(s) {sorted(unknown)}; "
                f"valid options: {sorted(options)}"
            )
        options.update(changes)
        return Flow(self.fn, **options)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the flow and return its result (its ``State`` with ``return_state=True``).

        For an ``async def`` flow this returns an awaitable.
        """
        from tideflow.engine import flow_engine

        return flow_engine.call_flow(self, args, kwargs)

    def serve(
        self,
        name: str,
        cron: str | None = None,
        interval: Any = None,
        rrule: str | None = None,
        parameters: dict[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Deploy this flow as ``name`` and run its scheduled and on-demand runs in this
        process until SIGINT/SIGTERM; ``tideflow.serve.serve`` lists the other options
        (``timezone``, ``limit``, ``stop_event``, ``max_runs`` ...)."""
        from tideflow.serve import serve

        return serve(
            self, name, cron=cron, interval=interval, rrule=rrule, parameters=parameters,
            **options,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...


@overload
def flow(
    __fn: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    version: str | None = None,
    flow_run_name: str | Callable[[], str] | None = None,
    task_runner: TaskRunner | type[TaskRunner] | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
    validate_parameters: bool = True,
    persist_result: bool | None = None,
    result_storage: Any = None,
    result_serializer: Serializer | str | None = None,
    cache_result_in_memory: bool = True,
    log_prints: bool | None = None,
    tags: Iterable[str] | None = None,
    on_completion: list[StateHook] | None = None,
    on_failure: list[StateHook] | None = None,
    on_cancellation: list[StateHook] | None = None,
    on_crashed: list[StateHook] | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function into a ``Flow``; works bare (``@flow``) and with arguments.

    Example:
        >>> from tideflow import flow
        >>> @flow(name="hello")
        ... def hello(name: str = "world") -> str:
        ...     return f"Hello, {name}!"
        >>> hello.name
        'hello'
    """
    if __fn is not None:
        return Flow(__fn, **options)

    def decorator(fn: Callable[P, R]) -> Flow[P, R]:
        return Flow(fn, **options)

    return decorator


__all__ = ["Flow", "flow"]
