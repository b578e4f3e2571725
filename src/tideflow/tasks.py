"""The ``@task`` decorator and the ``Task`` object (definition only, no running).

Calling a task inside a flow runs it and returns its result; ``.submit()`` returns a
future; ``.map()`` returns a list of futures. Called outside any flow, a task still
runs and is recorded. The running itself lives in ``tideflow.engine``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import update_wrapper
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from tideflow.engine.futures import TideflowFuture
    from tideflow.serializers import Serializer

P = ParamSpec("P")
R = TypeVar("R")

RetryDelay = float | int | list[float] | list[int] | Callable[[int], list[float]]
StateHook = Callable[..., Any]


def task_input_hash(context: Any, arguments: dict[str, Any]) -> str | None:
    """A cache key from the task's inputs (Prefect's ``task_input_hash``).

    Inputs are hashed from their JSON form when they have one (JSONSerializer's types
    included), else from their pickle; the task's key is part of the hash so two tasks
    never share results. Returns None (no caching) when the inputs cannot be hashed.
    """
    # Imported here to keep `import tideflow` light (serializers pulls in cloudpickle).
    from tideflow.serializers import tideflow_json_object_encoder

    task_key = getattr(getattr(context, "task", None), "task_key", "")
    try:
        # Never fall back to repr(): reprs of big DataFrames and arrays are truncated,
        # so different inputs would share a key and return a wrong cached result.
        blob = json.dumps(arguments, sort_keys=True, default=tideflow_json_object_encoder).encode()
    except (TypeError, ValueError):
        import cloudpickle

        try:
            blob = cloudpickle.dumps(arguments)
        except Exception:
            return None
    return hashlib.sha256(task_key.encode() + b"\0" + blob).hexdigest()


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Retry delays that double: ``backoff_factor * 2**attempt`` seconds.

    Example:
        >>> exponential_backoff(10)(3)
        [10, 20, 40]
    """
    if backoff_factor < 0:
        raise ValueError(f"backoff_factor must be >= 0, got {backoff_factor}")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**i for i in range(retries)]

    return delays


_task_engine: ModuleType | None = None


def _engine() -> ModuleType:
    """The task engine, imported on first call: the definition layer must not import
    the engine at import time (DESIGN.md), and a per-call import statement costs ~3 µs
    on the hottest path, so the module is kept once loaded."""
    global _task_engine
    if _task_engine is None:
        from tideflow.engine import task_engine

        _task_engine = task_engine
    return _task_engine


def _cache_key_style(fn: Callable[..., Any] | None) -> str:
    """How to call a cache key function: Prefect's ``fn(context, parameters)`` or the
    seed's ``fn(context, **parameters)`` (a ``**kwargs`` parameter tells them apart)."""
    if fn is None:
        return "none"
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "dict"
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return "kwargs"
    return "dict"


class Task(Generic[P, R]):
    """A function turned into an observable, retryable, cacheable unit of work.

    Create one with ``@task``. Attributes mirror the decorator's arguments; ``fn`` is
    the undecorated function (handy in unit tests).
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        cache_key_fn: Callable[..., str | None] | None = None,
        cache_expiration: timedelta | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay = 0,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: Callable[..., bool] | None = None,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Serializer | str | None = None,
        result_storage_key: str | None = None,
        cache_result_in_memory: bool = True,
        timeout_seconds: float | None = None,
        log_prints: bool | None = None,
        refresh_cache: bool | None = None,
        on_completion: list[StateHook] | None = None,
        on_failure: list[StateHook] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {type(fn).__name__}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be a non-negative int, got {retries!r}")
        if retry_jitter_factor is not None and retry_jitter_factor < 0:
            raise ValueError(f"retry_jitter_factor must be >= 0, got {retry_jitter_factor!r}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        if cache_expiration is not None and not isinstance(cache_expiration, timedelta):
            raise TypeError(
                "cache_expiration must be a datetime.timedelta, got "
                f"{type(cache_expiration).__name__}"
            )
        if isinstance(retry_delay_seconds, list) and any(d < 0 for d in retry_delay_seconds):
            raise ValueError("retry_delay_seconds may not contain negative delays")
        if isinstance(retry_delay_seconds, int | float) and retry_delay_seconds < 0:
            raise ValueError(f"retry_delay_seconds must be >= 0, got {retry_delay_seconds!r}")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.description = description or inspect.getdoc(fn)
        self.tags: frozenset[str] = frozenset(tags or ())
        self.version = version
        self.cache_key_fn = cache_key_fn
        self._cache_key_style = _cache_key_style(cache_key_fn)
        self.cache_expiration = cache_expiration
        self.task_run_name = task_run_name
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        self.retry_condition_fn = retry_condition_fn
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.result_storage_key = result_storage_key
        self.cache_result_in_memory = cache_result_in_memory
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.refresh_cache = refresh_cache
        self.on_completion = list(on_completion or [])
        self.on_failure = list(on_failure or [])
        self.isasync = inspect.iscoroutinefunction(fn)
        module = getattr(fn, "__module__", "") or ""
        qualname = getattr(fn, "__qualname__", self.name)
        self.task_key = f"{module}.{qualname}:{self.name}"
        self._signature: inspect.Signature | None = None
        update_wrapper(self, fn)

    # ------------------------------------------------------------------ definition API
    @property
    def signature(self) -> inspect.Signature:
        """The wrapped function's signature (computed once)."""
        if self._signature is None:
            self._signature = inspect.signature(self.fn)
        return self._signature

    @property
    def simple_signature(self) -> bool:
        """True when the function takes only plain named parameters (the fast path:
        it can be called with keyword arguments alone)."""
        simple = self.__dict__.get("_simple")
        if simple is None:
            kinds = {p.kind for p in self.signature.parameters.values()}
            simple = kinds <= {
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY,
            }
            self.__dict__["_simple"] = simple
        return simple

    @property
    def parameter_layout(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Parameter names in order and their defaults (``inspect.Parameter.empty`` for
        required ones), computed once for fast argument binding."""
        layout = self.__dict__.get("_layout")
        if layout is None:
            params = self.signature.parameters
            layout = (tuple(params), {n: p.default for n, p in params.items()})
            self.__dict__["_layout"] = layout
        return layout

    def with_options(self, **changes: Any) -> Task[P, R]:
        """A copy of this task with some decorator arguments changed.

        Example:
            >>> @task(retries=1)
            ... def fetch(): ...
            >>> fetch.with_options(retries=5, name="fetch-hard").retries
            5
        """
        options = self._options()
        unknown = set(changes) - set(options)
        if unknown:
            raise TypeError(
                f"with_options() got unknown option(s) {sorted(unknown)}; "
                f"valid options: {sorted(options)}"
            )
        options.update(changes)
        return Task(self.fn, **options)

    def _options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": set(self.tags),
            "version": self.version,
            "cache_key_fn": self.cache_key_fn,
            "cache_expiration": self.cache_expiration,
            "task_run_name": self.task_run_name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "retry_jitter_factor": self.retry_jitter_factor,
            "retry_condition_fn": self.retry_condition_fn,
            "persist_result": self.persist_result,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
            "result_storage_key": self.result_storage_key,
            "cache_result_in_memory": self.cache_result_in_memory,
            "timeout_seconds": self.timeout_seconds,
            "log_prints": self.log_prints,
            "refresh_cache": self.refresh_cache,
            "on_completion": list(self.on_completion),
            "on_failure": list(self.on_failure),
        }

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    # ------------------------------------------------------------------ calling
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task now and return its result (or its ``State`` with
        ``return_state=True``). In an async flow, an async task returns an awaitable."""
        return _engine().call_task(self, args, kwargs)

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> TideflowFuture[R]:
        """Hand the task to the flow's task runner; returns a ``TideflowFuture``."""
        return _engine().submit_task(self, args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> list[TideflowFuture[R]]:
        """Submit one run per element of the iterable arguments.

        Wrap an argument in ``unmapped()`` to pass it whole to every run. All iterable
        arguments must have the same length.
        """
        return _engine().map_task(self, args, kwargs)


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
    __fn: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    version: str | None = None,
    cache_key_fn: Callable[..., str | None] | None = None,
    cache_expiration: timedelta | None = None,
    task_run_name: str | Callable[[], str] | None = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    retry_jitter_factor: float | None = None,
    retry_condition_fn: Callable[..., bool] | None = None,
    persist_result: bool | None = None,
    result_storage: Any = None,
    result_serializer: Serializer | str | None = None,
    result_storage_key: str | None = None,
    cache_result_in_memory: bool = True,
    timeout_seconds: float | None = None,
    log_prints: bool | None = None,
    refresh_cache: bool | None = None,
    on_completion: list[StateHook] | None = None,
    on_failure: list[StateHook] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function into a ``Task``; works bare (``@task``) and with arguments.

    Example:
        >>> from tideflow import task
        >>> @task(retries=3, retry_delay_seconds=0)
        ... def add(x: int, y: int) -> int:
        ...     return x + y
        >>> add.fn(1, 2)
        3
    """
    if __fn is not None:
        return Task(__fn, **options)

    def decorator(fn: Callable[P, R]) -> Task[P, R]:
        return Task(fn, **options)

    return decorator


__all__ = ["Task", "exponential_backoff", "task", "task_input_hash"]
