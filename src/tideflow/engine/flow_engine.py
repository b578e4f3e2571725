"""Running one flow run: parameters, claim, body, retries, final state, subflows.

``flow_lifecycle`` is the whole story of a flow run as a generator (see ``steps``);
``call_flow`` is what ``Flow.__call__`` does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from tideflow._ids import new_id
from tideflow.client import get_client
from tideflow.engine import results as run_results
from tideflow.engine.context import FlowRunContext, flow_run_ctx, tags_ctx
from tideflow.engine.futures import TideflowFuture
from tideflow.engine.heartbeat import heartbeat_for
from tideflow.engine.hooks import run_hooks
from tideflow.engine.inputs import UpstreamFailure, call_arguments, find_futures, resolve
from tideflow.engine.logs import enable_log_prints, setup_logging
from tideflow.engine.parameters import bind_parameters
from tideflow.engine.recorder import TaskRunInfo, get_recorder
from tideflow.engine.steps import (
    Call,
    Lifecycle,
    Sleep,
    drive_async,
    drive_sync,
    in_async_context,
    run_coroutine_blocking,
)
from tideflow.engine.task_engine import run_futures_to_completion
from tideflow.exceptions import (
    Abort,
    CancelledRun,
    OrchestrationRejected,
    ParameterTypeError,
    RunAlreadyClaimed,
    TaskTimeoutError,
)
from tideflow.flows import Flow
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import FlowRun, SetStateStatus
from tideflow.settings import get_settings
from tideflow.states import (
    AwaitingRetry,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    TimedOut,
)
from tideflow.task_runners import SequentialTaskRunner, TaskRunner

_log = logging.getLogger("tideflow.flow_runs")


def call_flow(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``flow(...)``: run it; the result, or the State with ``return_state=True``."""
    return_state = kwargs.pop("return_state", False)
    parent = flow_run_ctx.get()
    gen = flow_lifecycle(flow, args, kwargs, parent)
    if flow.isasync:
        if parent is not None and not in_async_context():
            # An async subflow called from a sync flow runs to completion right here.
            state = run_coroutine_blocking(drive_async(gen))
            return state if return_state else state.result()
        return _await_flow(gen, return_state)
    state = drive_sync(gen)
    return state if return_state else state.result()


def _await_flow(gen: Lifecycle[State[Any]], return_state: bool) -> Coroutine[Any, Any, Any]:
    async def run() -> Any:
        state = await drive_async(gen)
        return state if return_state else state.result()

    return run()


def run_existing_flow_run(flow: Flow[..., Any], flow_run: FlowRun) -> State[Any]:
    """Run a flow run created elsewhere (by a deployment); used by agents and serve."""
    gen = flow_lifecycle(flow, (), dict(flow_run.parameters), None, existing=flow_run)
    if flow.isasync:
        return run_coroutine_blocking(drive_async(gen))
    return drive_sync(gen)


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        try:
            json.dumps(value)
            out[name] = value
        except (TypeError, ValueError):
            text = repr(value)
            out[name] = text if len(text) <= 500 else text[:497] + "..."
    return out


def _run_name(flow: Flow[..., Any], parameters: dict[str, Any]) -> str | None:
    template = flow.flow_run_name
    if template is None:
        return None
    try:
        return str(template()) if callable(template) else str(template).format(**parameters)
    except Exception as exc:
        raise ValueError(
            f"flow_run_name {template!r} of flow {flow.name!r} could not be formatted: {exc!r}"
        ) from exc


def _new_runner(flow: Flow[..., Any]) -> TaskRunner:
    runner = flow.task_runner
    if runner is None:
        return SequentialTaskRunner()
    if isinstance(runner, type):
        return runner()
    return runner.duplicate()


def flow_lifecycle(
    flow: Flow[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parent: FlowRunContext | None,
    existing: FlowRun | None = None,
) -> Lifecycle[State[Any]]:
    """Everything that happens to one flow run."""
    settings = get_settings()
    setup_logging(settings.logging_level)
    client = get_client()
    recorder = get_recorder(client, settings.flush_interval)
    parameters = bind_parameters(flow, args, kwargs)
    tags = flow.tags | tags_ctx.get() | (parent.tags if parent else frozenset())

    parent_info: TaskRunInfo | None = None
    if parent is not None:
        task_key = f"subflow:{flow.name}"
        parent_info = TaskRunInfo(
            new_id(),
            parent.flow_run_id,
            flow.name,
            task_key,
            parent.next_dynamic_key(task_key),
            datetime.now(UTC),
            sorted(tags),
            {},
        )
        recorder.record_task_state(parent_info, Pending())

    if existing is None:
        flow_run = client.create_flow_run(
            FlowRunCreate(
                flow_name=flow.name,
                name=_run_name(flow, parameters),
                flow_version=flow.version,
                parameters=_jsonable(parameters),
                tags=sorted(tags),
                parent_task_run_id=parent_info.id if parent_info else None,
                state=StateCreate(type=StateType.PENDING),
                retries=flow.retries,
                retry_delay_seconds=flow.retry_delay_seconds,
            )
        )
    else:
        flow_run = existing

    def propose(state: State[Any]) -> State[Any]:
        record = state.to_record()
        result = client.set_flow_run_state(flow_run.id, StateCreate.model_validate(record))
        if result.status is SetStateStatus.ABORT:
            raise RunAlreadyClaimed(f"Flow run {flow_run.name!r}: {result.reason}")
        if result.status is SetStateStatus.REJECT:
            raise OrchestrationRejected(f"Flow run {flow_run.name!r}: {result.reason}")
        return state

    # Validate parameters: a bad one fails the run before the body runs.
    if flow.should_validate_parameters:
        try:
            parameters = flow.validate_parameters(parameters)
        except ParameterTypeError as exc:
            rejected = Failed(data=exc, message=str(exc))
            _log.error("%s", exc, extra=_run_extra(flow_run))
            recorder.flush()  # the run's log is complete once its final state is visible
            propose(rejected)
            _finish_parent(recorder, parent_info, rejected)
            if flow.on_failure:
                run_hooks(flow.on_failure, flow, flow_run, rejected, "on_failure")
            return rejected

    propose(Running())
    if parent_info is not None:
        # The parent's task run for this subflow runs while the subflow does.
        running = Running()
        parent_info.start_time = running.timestamp
        parent_info.run_count = 1
        recorder.record_task_state(parent_info, running)
    runner = _new_runner(flow)
    runner.start()
    log_prints = (
        bool(flow.log_prints)
        if flow.log_prints is not None
        else bool(parent.log_prints if parent else False)
    )
    if log_prints:
        enable_log_prints()
    ctx = FlowRunContext(
        flow=flow,
        flow_run_id=flow_run.id,
        flow_run_name=flow_run.name,
        parameters=parameters,
        client=client,
        recorder=recorder,
        task_runner=runner,
        log_prints=log_prints,
        parent=parent,
        tags=tags,
    )
    beat = heartbeat_for(settings.heartbeat_seconds)
    beat.add(flow_run.id, client)
    call_args, call_kwargs = call_arguments(flow.signature, parameters)
    _log.info("Beginning flow run for flow %r", flow.name, extra=_run_extra(flow_run))

    # A run resumed elsewhere (an agent's retry after a crash) has used attempts already:
    # its stored run count includes them, so retries are counted across processes.
    attempt = max(0, (existing.run_count if existing is not None else 0))
    final: State[Any]
    try:
        while True:
            attempt += 1
            ctx.dynamic_keys.clear()
            token = flow_run_ctx.set(ctx)
            started = time.monotonic()
            try:
                value = yield Call(
                    flow.fn, call_args, call_kwargs, flow.timeout_seconds,
                    f"Flow run {flow_run.name!r}",
                )  # fmt: skip
                # The timeout covers the task runs the body submitted, too.
                remaining = (
                    None
                    if flow.timeout_seconds is None
                    else max(0.0, flow.timeout_seconds - (time.monotonic() - started))
                )
                if not run_futures_to_completion(ctx.futures, remaining):
                    raise TaskTimeoutError(
                        f"Flow run {flow_run.name!r} exceeded its timeout of "
                        f"{flow.timeout_seconds} seconds waiting for its task runs"
                    )
                final = _state_from_return(flow, ctx, value)
            except (Abort, CancelledRun) as exc:
                final = Cancelled(message=f"Flow run was cancelled: {exc}")
            except (KeyboardInterrupt, SystemExit) as exc:
                final = Crashed(message=f"Flow run was interrupted: {exc!r}")
                _finalise(ctx, final, beat, runner)
                raise
            except TaskTimeoutError as exc:
                final = TimedOut(data=exc, message=str(exc))
            except Exception as exc:
                final = Failed(
                    data=exc,
                    message=f"Flow run encountered an exception: {type(exc).__name__}: {exc}",
                )
            finally:
                flow_run_ctx.reset(token)
            if final.type is StateType.FAILED and attempt <= flow.retries:
                if final.name != "TimedOut":
                    run_futures_to_completion(ctx.futures, None)
                ctx.futures.clear()
                delay = float(flow.retry_delay_seconds)
                recorder.flush()
                propose(
                    AwaitingRetry(
                        scheduled_time=datetime.now(UTC) + timedelta(seconds=delay),
                        message=f"Attempt {attempt} failed: {final.message}",
                    )
                )
                _log.info(
                    "Failed (%s); retry %d/%d in %.1fs",
                    final.message, attempt, flow.retries, delay,
                    extra=_run_extra(flow_run),
                )  # fmt: skip
                if delay > 0:
                    yield Sleep(delay)
                propose(Retrying())
                continue
            break
    except BaseException:
        beat.remove(flow_run.id)
        raise
    _finalise(ctx, final, beat, runner)
    _finish_parent(recorder, parent_info, final)
    return final


def _finalise(ctx: FlowRunContext, final: State[Any], beat: Any, runner: TaskRunner) -> None:
    # A timed-out run does not wait for its stragglers: threads cannot be killed, so
    # they finish (and are recorded) in the background.
    timed_out = final.name == "TimedOut"
    if timed_out:
        runner.abandon()
    else:
        run_futures_to_completion(ctx.futures, None)
    runner.shutdown()
    extra = {"flow_run_id": ctx.flow_run_id, "flow_run_name": ctx.flow_run_name}
    level = logging.INFO if final.type is StateType.COMPLETED else logging.ERROR
    # Logged before the flush so a finished run's log is complete when the call returns.
    _log.log(level, "Finished in state %r", final, extra=extra)
    ctx.recorder.flush()
    record = final.to_record()
    result = ctx.client.set_flow_run_state(ctx.flow_run_id, StateCreate.model_validate(record))
    beat.remove(ctx.flow_run_id)
    if result.status is not SetStateStatus.ACCEPT:
        _log.warning("Final state refused: %s", result.reason, extra=extra)
    flow = ctx.flow
    hooks = {
        StateType.COMPLETED: flow.on_completion,
        StateType.FAILED: flow.on_failure,
        StateType.CANCELLED: flow.on_cancellation,
        StateType.CRASHED: flow.on_crashed,
    }.get(final.type)
    if hooks:
        # In the run's context, so a hook can use get_run_logger() and a failing hook's
        # error is stored with this run's logs.
        token = flow_run_ctx.set(ctx)
        try:
            run_hooks(hooks, flow, ctx.flow_run, final, f"on_{final.type.value.lower()}")
        finally:
            flow_run_ctx.reset(token)


def _run_extra(flow_run: FlowRun) -> dict[str, Any]:
    """Log record fields that tie an engine log line to ``flow_run`` (the line is logged
    outside the run's context, where the current run may be its parent or none)."""
    return {"flow_run_id": flow_run.id, "flow_run_name": flow_run.name}


def _finish_parent(recorder: Any, info: TaskRunInfo | None, final: State[Any]) -> None:
    if info is None:
        return
    info.end_time = final.timestamp
    recorder.record_task_state(info, final.copy(data=final.data))


def _state_from_return(flow: Flow[..., Any], ctx: FlowRunContext, value: Any) -> State[Any]:
    """A flow's final state from what its body returned (Prefect's semantics)."""
    if isinstance(value, State):
        return value.copy() if value.is_final() else Completed(data=value)
    if isinstance(value, TideflowFuture):
        state = value.wait()
        if state.type is StateType.COMPLETED:
            return _completed(flow, state.result())
        return Failed(
            data=state.data if isinstance(state.data, BaseException) else None,
            message=f"Returned task run {value.task_name!r} ended {state.name}: {state.message}",
        )
    if isinstance(value, list | tuple) and any(
        isinstance(v, TideflowFuture | State) for v in value
    ):
        states = [v.wait() if isinstance(v, TideflowFuture) else v for v in value]
        bad = [s for s in states if isinstance(s, State) and not s.is_completed()]
        if bad:
            return Failed(
                data=bad[0].data if isinstance(bad[0].data, BaseException) else None,
                message=f"{len(bad)}/{len(states)} returned states did not complete",
            )
        results = [s.result() if isinstance(s, State) else s for s in states]
        return _completed(flow, type(value)(results) if isinstance(value, tuple) else results)
    if isinstance(value, dict | list | tuple | set):
        # Futures nested deeper (a dict of futures, a list of lists) resolve too.
        nested: list[TideflowFuture[Any]] = []
        find_futures(value, nested)
        if nested:
            try:
                return _completed(flow, resolve(value, []))
            except UpstreamFailure as failure:
                data = failure.state.data
                return Failed(
                    data=data if isinstance(data, BaseException) else None,
                    message=f"Returned task run {failure.name!r} ended {failure.state.name}: "
                    f"{failure.state.message}",
                )
    if value is None:
        unseen = [
            f
            for f in ctx.futures
            if not f.observed and (s := f.outcome()) is not None and not s.is_completed()
        ]
        if unseen:
            names = ", ".join(sorted({f.task_name for f in unseen}))
            return Failed(
                message=f"{len(unseen)} submitted task run(s) failed and were never "
                f"awaited or returned ({names})",
            )
    return _completed(flow, value)


def _completed(flow: Flow[..., Any], value: Any) -> State[Any]:
    if flow.persist_result:
        return run_results.persist_flow_result(flow, value)
    return Completed(data=value)
