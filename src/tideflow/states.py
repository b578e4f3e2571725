"""The state model: every flow run and task run moves through these states.

A state has a *type* (what the orchestrator reasons about) and a *name* (what a person
reads): ``Retrying`` is a RUNNING state, ``Cached`` a COMPLETED one, ``TimedOut`` a
FAILED one. The constructors (``Completed()``, ``Failed()``, ...) mirror Prefect's.

In-process a state's ``data`` holds the run's return value, a ``ResultReference`` to a
persisted result, or the exception that failed it. ``state.result()`` returns the value
or raises.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from tideflow._ids import new_id
from tideflow.exceptions import FailedRun, MissingResult

R = TypeVar("R")


class StateType(StrEnum):
    """The kinds of state the orchestrator distinguishes."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CANCELLING = "CANCELLING"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"


TERMINAL_STATES: frozenset[StateType] = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)

_DEFAULT_NAMES = {t: t.value.title() for t in StateType}
_ENGINE_DIR = str(Path(__file__).parent / "engine")
# Values that are never results references or exceptions (fast path of to_record).
PLAIN_DATA_TYPES = frozenset({int, float, str, bool, bytes, list, tuple, dict, set, type(None)})


def now_utc() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class ErrorInfo:
    """What is kept of an exception once it leaves the process: type, message, traceback."""

    __slots__ = ("message", "traceback", "type")

    def __init__(self, type: str, message: str, traceback: str = "") -> None:
        self.type = type
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """Capture ``exc`` with its formatted traceback, minus tideflow's own frames.

        Call it where the run fails: once the exception is re-raised in the caller (as
        ``state.result()`` does), its traceback grows the caller's frames too.
        """
        cls_ = type(exc)
        qualname = cls_.__qualname__
        module = cls_.__module__
        name = qualname if module in ("builtins", "__main__") else f"{module}.{qualname}"
        tb = exc.__traceback__
        # Skip the engine's frames above the user's code (the lifecycle driver).
        while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_ENGINE_DIR):
            tb = tb.tb_next
        text = "".join(traceback.format_exception(cls_, exc, tb or exc.__traceback__))
        return cls(name, str(exc), text)

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form stored in the database."""
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    def __repr__(self) -> str:
        return f"ErrorInfo({self.type}: {self.message})"


class RemoteError(Exception):
    """An exception re-created from a run recorded by another process.

    Raised by ``State.result()`` when the original exception object is not available.
    """

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(f"{info.type}: {info.message}")
        self.info = info


class _NotPersisted:
    """Marks a Completed state read back from the store whose value was not persisted."""

    def __repr__(self) -> str:
        return "NOT_PERSISTED"


NOT_PERSISTED: Any = _NotPersisted()


class State(Generic[R]):
    """One state of a flow run or task run.

    Attributes:
        type: the ``StateType``.
        name: display name (``Cached``, ``Retrying``, ``TimedOut`` ...).
        timestamp: when the run entered this state (UTC).
        message: a human-readable reason.
        data: the return value, a ``ResultReference``, or the exception.
        id: unique id; also makes state changes idempotent when retried.
        details: small extras (``scheduled_time``, ``cache_key``, ``cache_expiration``,
            ``error``, ``result`` reference dict ...).
    """

    __slots__ = ("_id", "data", "details", "message", "name", "timestamp", "type")

    def __init__(
        self,
        type: StateType,
        name: str | None = None,
        *,
        message: str | None = None,
        data: Any = None,
        timestamp: datetime | None = None,
        id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.type = type
        self.name = name or _DEFAULT_NAMES[type]
        self.message = message
        self.data = data
        self.timestamp = timestamp or datetime.now(UTC)
        self._id = id
        self.details = details

    @property
    def id(self) -> str:
        """Unique id, made on first use (most states are only ever written once)."""
        if self._id is None:
            self._id = new_id()
        return self._id

    # --- predicates (Prefect names) ---------------------------------------------------
    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        """True for Completed, Failed, Cancelled and Crashed (and their named variants)."""
        return self.type in TERMINAL_STATES

    @property
    def scheduled_time(self) -> datetime | None:
        """When a Scheduled/AwaitingRetry run should start, if set."""
        value = (self.details or {}).get("scheduled_time")
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value

    @property
    def error(self) -> ErrorInfo | None:
        """The recorded error of a failed run, if any."""
        raw = (self.details or {}).get("error")
        if isinstance(raw, ErrorInfo):
            return raw
        if isinstance(raw, Mapping):
            return ErrorInfo(raw.get("type", ""), raw.get("message", ""), raw.get("traceback", ""))
        if isinstance(self.data, BaseException):
            return ErrorInfo.from_exception(self.data)
        return None

    def result(self, raise_on_failure: bool = True, fetch: bool = True) -> R:
        """The run's return value.

        Args:
            raise_on_failure: for a Failed/Crashed/Cancelled state, raise its exception
                (default) instead of returning it.
            fetch: load a persisted result from storage (default True); with False a
                ``ResultReference`` is returned as is.

        Raises:
            The run's own exception for failed runs, ``MissingResult`` for states that
            carry no result.
        """
        if self.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
            exc = self._exception()
            if raise_on_failure:
                raise exc
            return exc  # type: ignore[return-value]
        data = self.data
        if data is None and self.details and "result" in self.details:
            data = _reference_from_dict(self.details["result"])
        if fetch and _is_reference(data):
            return data.load()
        if data is NOT_PERSISTED:
            raise MissingResult(
                f"State {self.name} has no result: it was not persisted "
                "(use persist_result=True to keep results readable later)"
            )
        if data is None and self.type is not StateType.COMPLETED:
            raise MissingResult(f"State {self.name} of type {self.type} has no result")
        return data

    def _exception(self) -> BaseException:
        if isinstance(self.data, BaseException):
            return self.data
        info = self.error
        if info is not None:
            return RemoteError(info)
        return FailedRun(self.message or f"Run ended in state {self.name}")

    def copy(self, **changes: Any) -> State[R]:
        """A copy with some fields replaced (a new id unless ``id`` is given)."""
        fields = {
            "type": self.type,
            "name": self.name,
            "message": self.message,
            "data": self.data,
            "timestamp": self.timestamp,
            "details": dict(self.details) if self.details else None,
        }
        fields.update(changes)
        return State(**fields)

    def to_record(self) -> dict[str, Any]:
        """JSON-safe record (what the database and the API store)."""
        data = self.data
        if self.details is None and (data is None or type(data) in PLAIN_DATA_TYPES):
            # Fast path: the common Pending/Running/Completed(value) state.
            return {
                "id": self.id,
                "type": self.type._value_,
                "name": self.name,
                "timestamp": self.timestamp,
                "message": self.message,
                "details": {"literal": data}
                if self.type is StateType.COMPLETED and (data is None or type(data) is bool)
                else None,
            }
        details = dict(self.details) if self.details else {}
        if isinstance(data, BaseException) and "error" not in details:
            details["error"] = ErrorInfo.from_exception(data).to_dict()
        elif _is_reference(data):
            details["result"] = data.to_dict()
        elif (data is None or isinstance(data, bool)) and self.type is StateType.COMPLETED:
            details["literal"] = data
        if isinstance(details.get("error"), ErrorInfo):
            details["error"] = details["error"].to_dict()
        for key in ("scheduled_time", "cache_expiration"):
            value = details.get(key)
            if isinstance(value, datetime):
                details[key] = value.isoformat()
        return {
            "id": self.id,
            "type": self.type.value,
            "name": self.name,
            "timestamp": self.timestamp,
            "message": self.message,
            "details": details or None,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> State[Any]:
        """Rebuild a state from ``to_record()`` output (or an API/database row)."""
        details = dict(record.get("details") or {})
        data: Any = None
        if "result" in details:
            data = _reference_from_dict(details["result"])
        elif "literal" in details:
            data = details["literal"]
        elif record["type"] == StateType.COMPLETED.value:
            data = NOT_PERSISTED
        timestamp = record.get("timestamp")
        if isinstance(timestamp, str):
            timestamp = datetime.fromisoformat(timestamp)
        return cls(
            StateType(record["type"]),
            record.get("name"),
            message=record.get("message"),
            data=data,
            timestamp=timestamp,
            id=record.get("id"),
            details=details or None,
        )

    def __repr__(self) -> str:
        parts = []
        if self.message:
            parts.append(f"message={self.message!r}")
        if self.name != _DEFAULT_NAMES[self.type]:
            parts.append(f"type={self.type.value}")
        return f"{self.name}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def _is_reference(value: Any) -> bool:
    return hasattr(value, "load") and hasattr(value, "storage_url") and hasattr(value, "key")


def _reference_from_dict(data: Mapping[str, Any]) -> Any:
    # Imported here so that `import tideflow.states` stays free of the results package;
    # results imports nothing from states, so this is not hiding a cycle.
    from tideflow.results.store import ResultReference

    return ResultReference.from_dict(dict(data))


# --- constructors (Prefect names) ------------------------------------------------------
def Scheduled(scheduled_time: datetime | None = None, **kw: Any) -> State[Any]:
    """A run waiting for ``scheduled_time``."""
    return _with_time(StateType.SCHEDULED, kw.pop("name", "Scheduled"), scheduled_time, kw)


def Late(scheduled_time: datetime | None = None, **kw: Any) -> State[Any]:
    """A scheduled run that did not start on time."""
    return _with_time(StateType.SCHEDULED, "Late", scheduled_time, kw)


def AwaitingRetry(scheduled_time: datetime | None = None, **kw: Any) -> State[Any]:
    """A failed run waiting for its next attempt."""
    return _with_time(StateType.SCHEDULED, "AwaitingRetry", scheduled_time, kw)


def _with_time(
    type_: StateType, name: str, when: datetime | None, kw: dict[str, Any]
) -> State[Any]:
    details = dict(kw.pop("details", None) or {})
    details["scheduled_time"] = when or now_utc()
    return State(type_, name, details=details, **kw)


def Pending(**kw: Any) -> State[Any]:
    """A run that is ready to start."""
    return State(StateType.PENDING, kw.pop("name", "Pending"), **kw)


def Running(**kw: Any) -> State[Any]:
    """A run that is executing."""
    return State(StateType.RUNNING, kw.pop("name", "Running"), **kw)


def Retrying(**kw: Any) -> State[Any]:
    """A run executing again after a failure."""
    return State(StateType.RUNNING, "Retrying", **kw)


def Completed(**kw: Any) -> State[Any]:
    """A run that finished successfully."""
    return State(StateType.COMPLETED, kw.pop("name", "Completed"), **kw)


def Cached(**kw: Any) -> State[Any]:
    """A run that reused a cached result instead of executing."""
    return State(StateType.COMPLETED, "Cached", **kw)


def Failed(**kw: Any) -> State[Any]:
    """A run that raised an exception or returned a failure."""
    return State(StateType.FAILED, kw.pop("name", "Failed"), **kw)


def TimedOut(**kw: Any) -> State[Any]:
    """A run that exceeded its ``timeout_seconds`` (a Failed state)."""
    return State(StateType.FAILED, "TimedOut", **kw)


def Crashed(**kw: Any) -> State[Any]:
    """A run whose process died or stopped heartbeating."""
    return State(StateType.CRASHED, kw.pop("name", "Crashed"), **kw)


def Cancelling(**kw: Any) -> State[Any]:
    """A run asked to stop; its infrastructure is being torn down."""
    return State(StateType.CANCELLING, "Cancelling", **kw)


def Cancelled(**kw: Any) -> State[Any]:
    """A run that was stopped on request."""
    return State(StateType.CANCELLED, kw.pop("name", "Cancelled"), **kw)


def Paused(**kw: Any) -> State[Any]:
    """A run suspended until resumed."""
    return State(StateType.PAUSED, kw.pop("name", "Paused"), **kw)


__all__ = [
    "TERMINAL_STATES",
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "ErrorInfo",
    "Failed",
    "Late",
    "Paused",
    "Pending",
    "RemoteError",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "TimedOut",
    "now_utc",
]
