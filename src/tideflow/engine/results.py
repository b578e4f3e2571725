"""Deciding whether and where a run's result is persisted."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from tideflow.exceptions import SerializationError
from tideflow.results.storage import resolve_result_storage
from tideflow.results.store import ResultReference, ResultStore
from tideflow.serializers import get_serializer
from tideflow.states import Completed, State

if TYPE_CHECKING:
    from tideflow.engine.context import FlowRunContext
    from tideflow.engine.recorder import TaskRunInfo
    from tideflow.flows import Flow
    from tideflow.tasks import Task

_log = logging.getLogger("tideflow.task_runs")

_stores: dict[tuple[int, int, str | None], ResultStore] = {}
_stores_lock = threading.Lock()
DEFAULT_SERIALIZER = "pickle"


def _store(storage: Any, serializer: Any) -> ResultStore:
    # The default storage lives under $TIDEFLOW_HOME, which may change within a process
    # (tideflow_test_harness): key it by the home too, or results and cache records
    # would keep going to (and being read from) the first home used.
    home = os.environ.get("TIDEFLOW_HOME") if storage is None else None
    key = (id(storage), id(serializer), home)
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = ResultStore(
                    resolve_result_storage(storage),
                    get_serializer(serializer or DEFAULT_SERIALIZER),
                )
                # Keep the configuration objects alive so their ids stay unique.
                _stores[key] = store
                _keepalive.append((storage, serializer))
    return store


_keepalive: list[tuple[Any, Any]] = []


def store_for_task(task: Task[..., Any], ctx: FlowRunContext) -> ResultStore:
    """The result store a task writes to: its own settings, else its flow's."""
    flow = ctx.flow
    storage = task.result_storage if task.result_storage is not None else flow.result_storage
    serializer = (
        task.result_serializer if task.result_serializer is not None else flow.result_serializer
    )
    return _store(storage, serializer)


def store_for_flow(flow: Flow[..., Any]) -> ResultStore:
    """The result store a flow writes its own return value to."""
    return _store(flow.result_storage, flow.result_serializer)


def read_cache(store: ResultStore, cache_key: str, task_name: str) -> ResultReference | None:
    """The cached result for ``cache_key``, or None on a miss.

    A record whose result file is gone (storage cleaned up, or expired by a lifecycle
    rule) is a miss, not a hit that fails later when the value is read downstream.
    """
    ref = store.read_cache_record(cache_key)
    if ref is not None and not store.exists(ref):
        _log.warning(
            "Task %r: the cached result for key %r is missing from %s; recomputing",
            task_name,
            cache_key[:200],
            ref.storage_url,
        )
        return None
    return ref


def should_persist(task: Task[..., Any], ctx: FlowRunContext, cache_key: str | None) -> bool:
    """Persist when asked to (task, else flow setting), or when caching needs it."""
    if task.persist_result is not None:
        return task.persist_result or cache_key is not None
    if ctx.flow.persist_result is not None and ctx.flow.persist_result:
        return True
    return cache_key is not None or task.result_storage is not None


def persist_task_result(
    task: Task[..., Any],
    ctx: FlowRunContext,
    info: TaskRunInfo,
    value: Any,
    parameters: dict[str, Any],
    cache_key: str | None,
    store: ResultStore | None,
) -> State[Any]:
    """Write ``value`` to result storage; a Completed state referencing it."""
    store = store or store_for_task(task, ctx)
    key = None
    if task.result_storage_key is not None:
        try:
            key = task.result_storage_key.format(
                parameters=parameters,
                task_run=info,
                flow_run={"id": ctx.flow_run_id, "name": ctx.flow_run_name},
            )
        except (KeyError, AttributeError, IndexError) as exc:
            raise ValueError(
                f"result_storage_key {task.result_storage_key!r} of task {task.name!r} "
                f"could not be formatted: {exc!r}"
            ) from exc
    try:
        ref = store.persist(value, key=key)
    except SerializationError as exc:
        raise SerializationError(
            f"Task {task.name!r} returned a result that cannot be persisted: {exc}"
        ) from exc
    except ValueError as exc:  # e.g. result_storage_key rendered to an invalid key
        raise ValueError(f"Task {task.name!r} could not persist its result: {exc}") from exc
    if cache_key is not None:
        expiration = None
        if task.cache_expiration is not None:
            from datetime import UTC, datetime

            expiration = datetime.now(UTC) + task.cache_expiration
        store.write_cache_record(cache_key, ref, expiration)
    details: dict[str, Any] = {"result": ref.to_dict()}
    if cache_key is not None:
        details["cache_key"] = cache_key
    data = value if task.cache_result_in_memory else ref
    return Completed(data=data, details=details)


def persist_flow_result(flow: Flow[..., Any], value: Any) -> State[Any]:
    """Write a flow's return value; a Completed state referencing it."""
    store = store_for_flow(flow)
    try:
        ref = store.persist(value)
    except SerializationError as exc:
        raise SerializationError(
            f"Flow {flow.name!r} returned a result that cannot be persisted: {exc}"
        ) from exc
    return Completed(data=value, details={"result": ref.to_dict()})
