"""Running one task run: inputs, cache, retries, timeout, result, record.

``task_lifecycle`` is the whole story of a task run, written once as a generator (see
``steps``). ``call_task``, ``submit_task`` and ``map_task`` are what ``Task.__call__``,
``Task.submit`` and ``Task.map`` do.
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import logging
import random
from collections.abc import Iterable
from contextvars import copy_context
from datetime import UTC, datetime, timedelta
from typing import Any

from tideflow._ids import new_id
from tideflow.engine import results as run_results
from tideflow.engine.concurrency import slots_for
from tideflow.engine.context import (
    FlowRunContext,
    TaskRunContext,
    flow_run_ctx,
    tags_ctx,
    task_run_ctx,
)
from tideflow.engine.futures import TideflowFuture, unmapped
from tideflow.engine.hooks import run_hooks
from tideflow.engine.inputs import (
    UpstreamFailure,
    call_arguments,
    find_futures,
    resolve_parameters,
)
from tideflow.engine.logs import enable_log_prints
from tideflow.engine.recorder import Recorder, TaskRunInfo
from tideflow.engine.standalone import standalone_context
from tideflow.engine.steps import Call, Lifecycle, Sleep, drive_async, drive_sync, in_async_context
from tideflow.exceptions import (
    CacheKeyError,
    MappingError,
    SignatureMismatchError,
    TaskTimeoutError,
    TideflowSignal,
)
from tideflow.states import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Completed,
    Crashed,
    ErrorInfo,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    TimedOut,
)
from tideflow.tasks import Task

_log = logging.getLogger("tideflow.task_runs")
_EMPTY = inspect.Parameter.empty


# ------------------------------------------------------------------------ entry points
def call_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``task(...)``: run now; return the result (or the State with return_state=True)."""
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    ctx = flow_run_ctx.get()
    standalone = ctx is None
    if ctx is None:
        ctx = standalone_context()
    parameters = bind(task, args, kwargs)
    info = new_task_run_info(task, ctx, parameters)
    gen = task_lifecycle(task, ctx, info, parameters, wait_for)
    if task.isasync and (standalone or in_async_context()):
        # Outside any flow an async task behaves like the async function it wraps (and
        # like an async flow): calling it gives a coroutine, for `asyncio.run`/`await`.
        return _await_task(gen, return_state, ctx if standalone else None)
    state = drive_sync(gen)
    if standalone:
        ctx.recorder.flush()
    return state if return_state else state.result()


async def _await_task(gen: Lifecycle[State[Any]], return_state: bool, flush: Any) -> Any:
    state = await drive_async(gen)
    if flush is not None:
        flush.recorder.flush()
    return state if return_state else state.result()


def submit_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TideflowFuture[Any]:
    """``task.submit(...)``: hand the run to the flow's task runner; return a future."""
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    ctx = flow_run_ctx.get()
    if ctx is None:
        ctx = standalone_context()
    parameters = bind(task, args, kwargs)
    future = _submit(task, ctx, parameters, wait_for)
    if return_state:
        return future.wait()  # type: ignore[return-value]
    return future


def map_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[TideflowFuture[Any]]:
    """``task.map(...)``: one submitted run per element of the iterable arguments."""
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    ctx = flow_run_ctx.get()
    if ctx is None:
        ctx = standalone_context()
    parameters = bind(task, args, kwargs, partial=True)
    iterables: dict[str, list[Any]] = {}
    static: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, unmapped):
            static[name] = value.value
        elif isinstance(value, TideflowFuture):
            # A future of an iterable: its elements are what we map over.
            iterables[name] = list(value.result())
        elif isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            static[name] = value
        else:
            iterables[name] = list(value)
    if not iterables:
        raise MappingError(
            f"Task {task.name!r}.map() needs at least one iterable argument; got "
            f"{sorted(parameters)} (wrap constants in unmapped())"
        )
    lengths = {name: len(values) for name, values in iterables.items()}
    if len(set(lengths.values())) > 1:
        raise MappingError(
            f"Task {task.name!r}.map() got iterables of different lengths: {lengths}"
        )
    n = next(iter(lengths.values()))
    futures = []
    for i in range(n):
        call_params = dict(static)
        for name, values in iterables.items():
            call_params[name] = values[i]
        futures.append(_submit(task, ctx, call_params, wait_for))
    if return_state:
        return [f.wait() for f in futures]  # type: ignore[misc]
    return futures


def _submit(
    task: Task[..., Any],
    ctx: FlowRunContext,
    parameters: dict[str, Any],
    wait_for: list[Any] | None,
) -> TideflowFuture[Any]:
    info = new_task_run_info(task, ctx, parameters)
    upstream: list[TideflowFuture[Any]] = []
    for value in parameters.values():
        find_futures(value, upstream)
    if wait_for:
        find_futures(list(wait_for), upstream)
    for f in upstream:
        f.observed = True
    gen = task_lifecycle(task, ctx, info, parameters, wait_for)
    run_ctx = copy_context()
    if task.isasync:
        raw = ctx.task_runner.submit_async(lambda: drive_async(gen), upstream, run_ctx)
    else:
        raw = ctx.task_runner.submit(lambda: drive_sync(gen), upstream, run_ctx)
    future: TideflowFuture[Any] = TideflowFuture(info, task.name, raw)
    with ctx.lock:
        ctx.futures.append(future)
    return future


# ------------------------------------------------------------------------ helpers
def bind(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], partial: bool = False
) -> dict[str, Any]:
    """Bind call arguments to the task's parameters (defaults applied)."""
    if not partial and task.simple_signature:
        bound_fast = _bind_simple(task, args, kwargs)
        if bound_fast is not None:
            return bound_fast
    sig = task.signature
    try:
        bound = sig.bind_partial(*args, **kwargs) if partial else sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise SignatureMismatchError(
            f"Task {task.name!r} called with bad arguments: {exc}"
        ) from None
    bound.apply_defaults()
    return bound.arguments


def _bind_simple(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """Fast binding for plain signatures; None means "let inspect do it" (which also
    produces the proper error message for bad calls)."""
    names, defaults = task.parameter_layout
    if len(args) > len(names):
        return None
    bound = dict(zip(names, args, strict=False))
    if kwargs:
        for key, value in kwargs.items():
            if key in bound or key not in defaults:
                return None
            bound[key] = value
    if len(bound) != len(names):
        for name in names:
            if name not in bound:
                default = defaults[name]
                if default is _EMPTY:
                    return None
                bound[name] = default
        # keep signature order, as inspect would
        bound = {name: bound[name] for name in names}
    return bound


def new_task_run_info(
    task: Task[..., Any], ctx: FlowRunContext, parameters: dict[str, Any]
) -> TaskRunInfo:
    """A new task run's identity, with its run name resolved."""
    task_run_id = new_id()
    name = task.name
    if task.task_run_name is not None:
        name = _format_run_name(task.task_run_name, parameters, task.name)
    tags = task.tags | ctx.tags | tags_ctx.get()
    return TaskRunInfo(
        task_run_id,
        ctx.flow_run_id,
        f"{name}-{task_run_id[:3]}" if task.task_run_name is None else name,
        task.task_key,
        ctx.next_dynamic_key(task.task_key),
        datetime.now(UTC),
        sorted(tags) if tags else [],
        {},
        task.version,
    )


def _format_run_name(template: Any, parameters: dict[str, Any], default: str) -> str:
    try:
        if callable(template):
            return str(template())
        return str(template).format(**parameters)
    except Exception as exc:
        raise ValueError(
            f"task_run_name {template!r} could not be formatted for task {default!r}: {exc!r}"
        ) from exc


def retry_delay(task: Task[..., Any], attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), with jitter."""
    spec: Any = task.retry_delay_seconds
    if callable(spec):
        spec = list(spec(task.retries))
    if isinstance(spec, list):
        delay = float(spec[min(attempt - 1, len(spec) - 1)]) if spec else 0.0
    else:
        delay = float(spec)
    if task.retry_jitter_factor and delay > 0:
        delay += random.uniform(0, delay * task.retry_jitter_factor)
    return delay


def _compute_cache_key(
    task: Task[..., Any], context: TaskRunContext, parameters: dict[str, Any]
) -> str | None:
    fn = task.cache_key_fn
    assert fn is not None
    try:
        if task._cache_key_style == "kwargs":
            key = fn(context, **parameters)
        else:
            key = fn(context, parameters)
    except Exception as exc:
        raise CacheKeyError(
            f"cache_key_fn of task {task.name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if key is not None and not isinstance(key, str):
        raise CacheKeyError(
            f"cache_key_fn of task {task.name!r} returned {type(key).__name__} {key!r}; "
            "expected a string or None"
        )
    return key


# ------------------------------------------------------------------------ the lifecycle
def task_lifecycle(
    task: Task[..., Any],
    ctx: FlowRunContext,
    info: TaskRunInfo,
    parameters: dict[str, Any],
    wait_for: list[Any] | None,
) -> Lifecycle[State[Any]]:
    """Everything that happens to one task run, from inputs to final state."""
    recorder: Recorder = ctx.recorder
    reuse_key = (info.task_key, info.dynamic_key)
    prior = ctx.completed.get(reuse_key)
    if prior is not None:
        # The flow is retrying: this task already completed in an earlier attempt.
        return prior

    pending = Pending(timestamp=info.created)
    recorder.record_task_state(info, pending)
    try:
        values, task_inputs = resolve_parameters(parameters, wait_for)
    except UpstreamFailure as failure:
        state = Pending(
            name="NotReady",
            message=f"Upstream task run {failure.name!r} did not complete "
            f"(it is {failure.state.name}); this task did not run.",
        )
        final = Failed(name="NotReady", message=state.message)
        recorder.record_task_state(info, final)
        return final
    info.task_inputs = task_inputs

    log_prints = task.log_prints if task.log_prints is not None else ctx.log_prints
    if log_prints:
        enable_log_prints()  # the flow may not have (a task can opt in on its own)
    run_context = TaskRunContext(task, info.id, info.name, values, ctx, log_prints)

    # Cache lookup.
    cache_key: str | None = None
    store = None
    if task.cache_key_fn is not None:
        try:
            cache_key = _compute_cache_key(task, run_context, values)
        except CacheKeyError as exc:
            final = Failed(data=exc, message=str(exc))
            recorder.record_task_state(info, final)
            return final
        info.cache_key = cache_key
        if cache_key is not None:
            store = run_results.store_for_task(task, ctx)
            refresh = task.refresh_cache if task.refresh_cache is not None else False
            if not refresh:
                hit = run_results.read_cache(store, cache_key, task.name)
                if hit is not None:
                    cached = Cached(
                        data=hit,
                        message=f"Cached result (key {cache_key[:60]!r})",
                        details={"cache_key": cache_key},
                    )
                    recorder.record_task_state(info, cached)
                    if ctx.flow.retries:
                        ctx.completed[reuse_key] = cached
                    return cached

    slots = slots_for(ctx, info)
    if slots is not None:
        while not slots.acquire():
            yield Sleep(slots.poll_interval())

    token = task_run_ctx.set(run_context)
    try:
        attempt = 0
        while True:
            attempt += 1
            info.run_count = attempt
            run_context.retry_count = attempt - 1
            running = Running() if attempt == 1 else Retrying()
            if info.start_time is None:
                info.start_time = running.timestamp
            recorder.record_task_state(info, running)
            try:
                call_args, call_kwargs = (
                    ((), values)
                    if task.simple_signature
                    else call_arguments(task.signature, values)
                )
                runner = ctx.task_runner
                if runner.routes_calls:
                    call_args, call_kwargs = (task.fn, call_args, call_kwargs), {}
                    fn: Any = runner.invoke
                else:
                    fn = task.fn
                value = yield Call(
                    fn, call_args, call_kwargs, task.timeout_seconds, f"Task run {info.name!r}"
                )
            except TideflowSignal:
                recorder.record_task_state(info, Cancelled(message="Cancelled while running"))
                raise
            except (KeyboardInterrupt, SystemExit) as exc:
                recorder.record_task_state(info, Crashed(message=f"Interrupted: {exc!r}"))
                raise
            except Exception as exc:
                failed = _failure_state(exc, info)
                if attempt <= task.retries and _should_retry(task, info, failed):
                    delay = retry_delay(task, attempt)
                    waiting = AwaitingRetry(
                        scheduled_time=datetime.now(UTC) + timedelta(seconds=delay),
                        message=f"Attempt {attempt} failed: {failed.message}",
                    )
                    recorder.record_task_state(info, waiting)
                    _log.info(
                        "Task run %r failed (%s); retry %d/%d in %.1fs",
                        info.name, failed.message, attempt, task.retries, delay,
                    )  # fmt: skip
                    if delay > 0:
                        yield Sleep(delay)
                    continue
                final = failed
                break
            final = _completed_state(task, ctx, info, value, values, cache_key, store)
            break
    finally:
        task_run_ctx.reset(token)
        if slots is not None:
            slots.release()

    info.end_time = final.timestamp
    recorder.record_task_state(info, final)
    if final.type is StateType.COMPLETED:
        if ctx.flow.retries:
            # Only a flow that may rerun its body needs to remember finished tasks.
            ctx.completed[reuse_key] = final
        if task.on_completion:
            run_hooks(task.on_completion, task, info, final, "on_completion")
    elif task.on_failure:
        run_hooks(task.on_failure, task, info, final, "on_failure")
    return final


def _failure_state(exc: BaseException, info: TaskRunInfo) -> State[Any]:
    # The traceback is captured now: re-raised in the flow later, it would grow frames.
    details = {"error": ErrorInfo.from_exception(exc).to_dict()}
    if isinstance(exc, TaskTimeoutError):
        return TimedOut(data=exc, message=str(exc), details=details)
    return Failed(
        data=exc,
        message=f"Task run {info.name!r} raised {type(exc).__name__}: {exc}",
        details=details,
    )


def _should_retry(task: Task[..., Any], info: TaskRunInfo, failed: State[Any]) -> bool:
    if task.retry_condition_fn is None:
        return True
    try:
        return bool(task.retry_condition_fn(task, info, failed))
    except Exception as exc:
        _log.error("retry_condition_fn of task %r raised %r; not retrying", task.name, exc)
        return False


def _completed_state(
    task: Task[..., Any],
    ctx: FlowRunContext,
    info: TaskRunInfo,
    value: Any,
    parameters: dict[str, Any],
    cache_key: str | None,
    store: Any,
) -> State[Any]:
    if isinstance(value, State):
        return value.copy()
    if isinstance(value, TideflowFuture):
        return value.wait().copy()
    if run_results.should_persist(task, ctx, cache_key):
        try:
            return run_results.persist_task_result(
                task, ctx, info, value, parameters, cache_key, store
            )
        except Exception as exc:
            return Failed(data=exc, message=str(exc))
    return Completed(data=value)


def run_futures_to_completion(futures: list[TideflowFuture[Any]], timeout: float | None) -> bool:
    """Wait for every future (used at the end of a flow run); False if ``timeout``
    passed with some still running."""
    _done, pending = cf.wait([f._future for f in futures], timeout=timeout)
    return not pending
