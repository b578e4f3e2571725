"""The write-behind recorder: task-run states and log lines go to the store in batches.

The hot path appends one tuple to a deque (thread-safe, no lock). A background thread
drains it every ``flush_interval`` seconds (or sooner when it grows), coalesces the
events of each task run into one snapshot plus its history entries, and writes them in
one transaction through ``client.write_batch``. The flow engine calls ``flush()``
before it writes a flow run's final state, so a finished run's records are all there.

Nothing is dropped: a failed write is retried with backoff, keeping the events; when
the queue is full, producers wait for the flusher (back-pressure).
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from tideflow._json import dumps
from tideflow.states import PLAIN_DATA_TYPES, State, StateType

if TYPE_CHECKING:
    from tideflow.client.base import OrchestrationClient

_log = logging.getLogger("tideflow.recorder")

MAX_BATCH = 5_000
MAX_QUEUE = 50_000


class TaskRunInfo:
    """What is known of a task run besides its state; shared by all its events."""

    __slots__ = (
        "cache_key",
        "created",
        "dynamic_key",
        "end_time",
        "flow_run_id",
        "history",
        "id",
        "name",
        "queued",
        "records",
        "run_count",
        "start_time",
        "tags",
        "task_inputs",
        "task_key",
        "task_version",
    )

    def __init__(
        self,
        id: str,
        flow_run_id: str | None,
        name: str,
        task_key: str,
        dynamic_key: str,
        created: Any,
        tags: list[str],
        task_inputs: dict[str, Any],
        task_version: str | None = None,
    ) -> None:
        self.id = id
        self.flow_run_id = flow_run_id
        self.name = name
        self.task_key = task_key
        self.dynamic_key = dynamic_key
        self.created = created
        self.tags = tags
        self.task_inputs = task_inputs
        self.task_version = task_version
        self.cache_key: str | None = None
        #: every state so far, oldest first (only the engine running it appends)
        self.history: list[State[Any]] = []
        #: an event for this run is waiting in the queue (see record_task_state)
        self.queued = False
        #: ``history`` as the flusher encoded it, one entry per state, built once each:
        #: a JSON-ready dict, or (JSON text, ISO time) for an encoded-history client
        self.records: list[Any] = []
        self.start_time: Any = None
        self.end_time: Any = None
        self.run_count = 0


class Recorder:
    """Buffers task-run state changes and log lines; flushes them in batches."""

    def __init__(self, client: OrchestrationClient, flush_interval: float = 0.2) -> None:
        self.client = client
        self.flush_interval = flush_interval
        #: the client stores a pre-encoded JSON history as is (the embedded SQLite door)
        self.encoded_history = bool(getattr(client, "accepts_encoded_history", False))
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._enqueued = 0  # events appended (monotonic)
        self._written = 0  # events durably written (monotonic)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._thread_lock = threading.Lock()
        self.failures = 0
        #: records the store refused as invalid (logged as errors, never retried)
        self.rejected = 0

    # ---------------------------------------------------------------- producers
    def record_task_state(self, info: TaskRunInfo, state: State[Any]) -> None:
        """Queue a task run's new state (the run is created by its first state)."""
        info.history.append(state)
        # One queued event per run is enough: the flusher writes the whole history as it
        # is when it gets there. It clears `queued` before reading the history, so a
        # state appended after that read queues a new event (see coalesce).
        if not info.queued:
            info.queued = True
            self._put(("s", info))

    def record_log(self, row: dict[str, Any]) -> None:
        """Queue a log line (a dict of the ``log`` table's columns)."""
        self._put(("l", row))

    def _put(self, event: tuple[Any, ...]) -> None:
        if self._thread is None:
            self._start()
        queue = self._queue
        if len(queue) >= MAX_QUEUE:
            self._wake.set()
            with self._flushed:
                while len(queue) >= MAX_QUEUE and not self._stopping:
                    self._flushed.wait(0.5)
        queue.append(event)
        self._enqueued += 1
        if len(queue) >= MAX_BATCH and not self._wake.is_set():
            self._wake.set()

    # ---------------------------------------------------------------- flushing
    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event queued before this call is written.

        Returns False if ``timeout`` passed first.
        """
        if self._thread is None:
            return True
        target = self._enqueued
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._flushed:
            while self._written < target:
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._flushed.wait(0.05 if remaining is None else min(0.05, remaining))
        return True

    def _start(self) -> None:
        with self._thread_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="tideflow-recorder", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._drain()
            if self._stopping and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[tuple[Any, ...]] = []
            pop = queue.popleft
            try:
                for _ in range(MAX_BATCH):
                    batch.append(pop())
            except IndexError:
                pass
            self._write_with_retry(batch)
            with self._flushed:
                self._written += len(batch)
                self._flushed.notify_all()

    def _write_with_retry(self, batch: list[tuple[Any, ...]]) -> None:
        task_runs, logs = coalesce(batch, encoded_history=self.encoded_history)
        self._write_rows(task_runs, logs)

    def _write_rows(self, task_runs: list[dict[str, Any]], logs: list[dict[str, Any]]) -> None:
        """Write rows, retrying transient failures (store unreachable, locked) forever
        with backoff; a batch the store refuses as invalid is split until the bad rows
        are isolated, so one unwritable record cannot stall the rest."""
        delay = 0.1
        while True:
            try:
                self.client.write_batch(task_runs, logs)
                return
            except (ValueError, TypeError) as exc:
                self._isolate(task_runs, logs, exc)
                return
            except Exception as exc:
                self.failures += 1
                if self._stopping and self.failures > 50:
                    _log.error(
                        "Giving up writing %d records at exit: %s", len(task_runs) + len(logs), exc
                    )
                    return
                _log.warning(
                    "Writing %d run records failed (%s); retrying",
                    len(task_runs) + len(logs),
                    exc,
                )
                time.sleep(delay + random.uniform(0, delay / 2))
                delay = min(delay * 2, 5.0)

    def _isolate(
        self, task_runs: list[dict[str, Any]], logs: list[dict[str, Any]], exc: Exception
    ) -> None:
        total = len(task_runs) + len(logs)
        if total <= 1:
            self.rejected += 1
            what = (
                f"task run {task_runs[0]['id']} ({task_runs[0]['name']!r})"
                if task_runs
                else f"log line of run {logs[0].get('flow_run_id')}"
                if logs
                else "empty batch"
            )
            _log.error("The store refused the record of %s: %s", what, exc)
            return
        if task_runs and logs:
            self._write_rows(task_runs, [])
            self._write_rows([], logs)
            return
        rows = task_runs or logs
        half = len(rows) // 2
        for part in (rows[:half], rows[half:]):
            if task_runs:
                self._write_rows(part, [])
            else:
                self._write_rows([], part)

    def close(self) -> None:
        """Write everything still queued and stop the thread (runs at exit too)."""
        if self._thread is None:
            return
        self.flush(timeout=60)
        self._stopping = True
        self._wake.set()


def coalesce(
    batch: list[tuple[Any, ...]], *, encoded_history: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Turn queued events into rows: one snapshot per task run (its newest state and
    whole history so far) and every log line. Times in snapshots are ISO strings.

    With ``encoded_history`` the history is handed over as JSON text, built from one
    cached fragment per state: the embedded SQLite door stores it as is, which saves
    building and encoding three dicts per task run on the hottest write path.
    """
    touched: dict[str, TaskRunInfo] = {}
    logs: list[dict[str, Any]] = []
    for event in batch:
        if event[0] == "s":
            info = event[1]
            info.queued = False
            touched[info.id] = info
        else:
            logs.append(event[1])
    task_runs = []
    for info in touched.values():
        states = info.history[:]
        records = info.records
        for ordinal in range(len(records), len(states)):
            state = states[ordinal]
            if state._id is None:
                # History entries only need ids unique within the run: derive them
                # from the run's id instead of drawing fresh random ones.
                state._id = f"{info.id[:24]}{ordinal:012x}"
            records.append(_fragment(state) if encoded_history else _record(state))
        done = records[: len(states)]
        times = [r[1] if encoded_history else r["timestamp"] for r in done]
        last_state = states[-1]
        last = last_state.to_record() if encoded_history else done[-1]
        task_runs.append(
            {
                "id": info.id,
                "flow_run_id": info.flow_run_id,
                "name": info.name,
                "task_key": info.task_key,
                "dynamic_key": info.dynamic_key,
                "task_version": info.task_version,
                "cache_key": info.cache_key,
                "tags": info.tags,
                "task_inputs": info.task_inputs,
                "state_id": last["id"],
                "state_type": last["type"],
                "state_name": last["name"],
                "state_timestamp": times[-1],
                "state_message": last["message"],
                "state_details": last["details"],
                "state_history": "[" + ",".join(r[0] for r in done) + "]"
                if encoded_history
                else done,
                "start_time": _iso_of(info.start_time, states, times),
                "end_time": _iso_of(info.end_time, states, times),
                "run_count": info.run_count,
                "created": _iso_of(info.created, states, times),
            }
        )
    return task_runs, logs


def _record(state: State[Any]) -> dict[str, Any]:
    record = state.to_record()
    # ISO strings now, so encoding the history needs no per-value callback.
    record["timestamp"] = record["timestamp"].isoformat()
    return record


# State names that need no JSON escaping (the engine's own).
_PLAIN_NAMES = frozenset(
    {"Pending", "Running", "Retrying", "Completed", "Cached", "Failed", "TimedOut",
     "AwaitingRetry", "Crashed", "Cancelled", "NotReady", "Scheduled", "Late", "Paused"}
)  # fmt: skip


def _fragment(state: State[Any]) -> tuple[str, str]:
    """One history entry as JSON text, and its ISO timestamp."""
    iso = state.timestamp.isoformat()
    data = state.data
    if (
        state.details is None
        and state.message is None
        and state.name in _PLAIN_NAMES
        and type(data) in PLAIN_DATA_TYPES
    ):
        details = "null"
        if state.type is StateType.COMPLETED and (data is None or type(data) is bool):
            details = '{"literal":%s}' % ("null" if data is None else "true" if data else "false")
        return (
            f'{{"id":"{state.id}","type":"{state.type._value_}","name":"{state.name}",'
            f'"timestamp":"{iso}","message":null,"details":{details}}}',
            iso,
        )
    record = state.to_record()
    record["timestamp"] = iso
    return dumps(record), iso


def _iso_of(value: Any, states: list[State[Any]], times: list[str]) -> Any:
    """``value`` as ISO text; a run's times are its states' times, so reuse their text."""
    if value is None:
        return None
    for state, text in zip(states, times, strict=False):
        if state.timestamp is value:
            return text
    return value.isoformat()


_recorders: dict[int, Recorder] = {}
_recorders_lock = threading.Lock()


def get_recorder(client: OrchestrationClient, flush_interval: float) -> Recorder:
    """The process-wide recorder for ``client``."""
    recorder = _recorders.get(id(client))
    if recorder is None or recorder.client is not client:
        with _recorders_lock:
            recorder = _recorders.get(id(client))
            if recorder is None or recorder.client is not client:
                recorder = Recorder(client, flush_interval)
                _recorders[id(client)] = recorder
    return recorder


def flush_all(timeout: float | None = None) -> None:
    """Flush every recorder in this process."""
    for recorder in list(_recorders.values()):
        recorder.flush(timeout)
