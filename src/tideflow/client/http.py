"""The HTTP door: ``HttpClient`` (sync) and ``AsyncHttpClient`` talk to a tideflow
server's REST API with httpx.

Every request is retried with exponential backoff and jitter on connection errors,
timeouts, HTTP 5xx and 429 (honouring ``Retry-After``); every write is idempotent, so a
retry after a lost response never applies a change twice. Errors that retrying cannot
fix map back to tideflow's exceptions:

========  ==================================================================
status    raised
========  ==================================================================
401, 403  ``AuthenticationError``
404       ``ObjectNotFound`` (a retried DELETE that finds nothing succeeded)
409       ``ObjectAlreadyExists``
413, 422  ``ValueError`` with the server's message (it names the field)
other 4xx ``TideflowError``
gave up   ``StoreUnavailable`` (server unreachable or failing)
========  ==================================================================

Example:
    >>> from tideflow.client.http import HttpClient
    >>> client = HttpClient("http://127.0.0.1:4200")
    >>> client.location
    'http://127.0.0.1:4200/api'
    >>> client.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import httpx

from tideflow._json import compact_dumps
from tideflow.client import _http_ops as ops
from tideflow.client.http_blocks import HttpBlocksMixin
from tideflow.client.http_deployments import HttpDeploymentsMixin
from tideflow.exceptions import (
    AuthenticationError,
    ObjectAlreadyExists,
    ObjectNotFound,
    StoreUnavailable,
    TideflowError,
)
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    LogRecord,
    OrchestrationResult,
    StateRecord,
    TaskRun,
)
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort, LogFilter, TaskRunFilter

_log = logging.getLogger("tideflow.client")
T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry: ``backoff * 2**attempt`` seconds, capped at
    ``backoff_max``, times a random factor in [0.5, 1] (jitter, so many clients that
    failed together do not come back together). The defaults ride out ~30 s of outage,
    long enough for a server restart."""

    retries: int = 10
    backoff: float = 0.1
    backoff_max: float = 5.0
    #: longest ``Retry-After`` honoured
    retry_after_max: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return min(self.backoff * 2**attempt, self.backoff_max) * random.uniform(0.5, 1.0)


def normalize_api_url(api_url: str) -> str:
    """``http://host:4200`` or ``http://host:4200/api/`` -> ``http://host:4200/api``."""
    url = api_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"API URL {api_url!r} must start with http:// or https://")
    return url if url.endswith("/api") else url + "/api"


def encode_json(payload: Any) -> bytes:
    """Compact JSON with ISO datetimes (the server parses them back, zone included)."""
    return compact_dumps(payload).encode()


def _retry_after(response: httpx.Response | None) -> float | None:
    raw = response.headers.get("retry-after") if response is not None else None
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return (parsedate_to_datetime(raw) - datetime.now().astimezone()).total_seconds()
    except (TypeError, ValueError):
        return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else json.dumps(detail if detail else body)[:500]


class _Attempt:
    """The decision after one try of a request: a value, a retry, or an error."""

    __slots__ = ("delay", "value")

    def __init__(self, value: Any = None, delay: float | None = None) -> None:
        self.value = value
        self.delay = delay


def _judge(
    request: ops.Request,
    response: httpx.Response | None,
    error: Exception | None,
    attempt: int,
    policy: RetryPolicy,
    location: str,
) -> _Attempt:
    what = f"{request.method} {location}{request.path}"
    if response is not None and response.status_code not in _RETRY_STATUSES:
        status = response.status_code
        if status < 300:
            return _Attempt(response.json() if response.content else None)
        if status == 404 and request.method == "DELETE" and attempt > 0:
            return _Attempt(None)  # an earlier try deleted it; its response was lost
        detail = _detail(response)
        if status in (401, 403):
            raise AuthenticationError(f"{what}: {detail} (check TIDEFLOW_API_KEY)")
        if status == 404:
            raise ObjectNotFound(detail)
        if status == 409:
            raise ObjectAlreadyExists(detail)
        if status in (413, 422):
            raise ValueError(detail)
        raise TideflowError(f"{what} failed with HTTP {status}: {detail}")
    reason = f"HTTP {response.status_code}" if response is not None else repr(error)
    if attempt >= policy.retries:
        raise StoreUnavailable(
            f"{what} failed after {attempt + 1} attempts; last: {reason}"
        ) from error
    delay = policy.delay(attempt, _retry_after(response))
    _log.debug("%s: %s; retry %d in %.2fs", what, reason, attempt + 1, delay)
    return _Attempt(delay=delay)


def _client_options(api_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    try:
        agent = f"tideflow/{version('tideflow')}"
    except PackageNotFoundError:
        agent = "tideflow"
    headers = {"user-agent": agent, "accept": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return {
        "base_url": api_url,
        "headers": headers,
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        "limits": httpx.Limits(max_connections=64, max_keepalive_connections=16),
    }


_NOT_RETRYABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_JSON = {"content-type": "application/json"}


class _HttpBase:
    """Connection, retries and error mapping; ``_request`` is the one way out."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_url = normalize_api_url(api_url)
        self.location = self.api_url
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(**_client_options(self.api_url, api_key, timeout))

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one API request (``path`` relative to ``/api``) with retries; the
        decoded JSON response (None for an empty one)."""
        return self._send(ops.Request(method, path, json, params))

    def _send(self, request: ops.Request) -> Any:
        content = encode_json(request.json) if request.json is not None else None
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = self._http.request(
                    request.method,
                    request.path.lstrip("/"),
                    content=content,
                    params=request.params,
                    headers=_JSON if content is not None else None,
                )
            except _NOT_RETRYABLE:
                raise
            except httpx.TransportError as exc:
                error = exc
            outcome = _judge(request, response, error, attempt, self.retry, self.api_url)
            if outcome.delay is None:
                return outcome.value
            time.sleep(outcome.delay)
            attempt += 1

    def _run(self, op: ops.Op[T]) -> T:
        try:
            request = next(op)
            while True:
                request = op.send(self._send(request))
        except StopIteration as stop:
            result: T = stop.value
            return result

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpClient(_HttpBase, HttpBlocksMixin, HttpDeploymentsMixin):
    """An ``OrchestrationClient`` on a tideflow server's REST API (thread-safe)."""

    def read_version(self) -> dict[str, Any]:
        """The server's version, API version and database kind."""
        return self._run(ops.read_version())

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[Flow]:
        return self._run(ops.read_flows(limit, offset))

    def create_flow_run(self, data: FlowRunCreate) -> FlowRun:
        return self._run(ops.create_flow_run(data))

    def read_flow_run(self, flow_run_id: str) -> FlowRun:
        return self._run(ops.read_flow_run(flow_run_id))

    def read_flow_runs(
        self,
        flow_run_filter: FlowRunFilter | None = None,
        *,
        sort: FlowRunSort = FlowRunSort.START_TIME_DESC,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRun]:
        return self._run(ops.read_flow_runs(flow_run_filter, sort, limit, offset))

    def count_flow_runs(self, flow_run_filter: FlowRunFilter | None = None) -> int:
        return self._run(ops.count_flow_runs(flow_run_filter))

    def set_flow_run_state(
        self, flow_run_id: str, state: StateCreate, *, force: bool = False
    ) -> OrchestrationResult:
        return self._run(ops.set_flow_run_state(flow_run_id, state, force))

    def cancel_flow_run(self, flow_run_id: str, message: str | None = None) -> OrchestrationResult:
        """Cancelling for a running or paused run, Cancelled for one not started."""
        return self._run(ops.cancel_flow_run(flow_run_id, message))

    def read_flow_run_states(self, flow_run_id: str) -> list[StateRecord]:
        return self._run(ops.read_flow_run_states(flow_run_id))

    def delete_flow_run(self, flow_run_id: str) -> None:
        self._run(ops.delete_flow_run(flow_run_id))

    def heartbeat(self, flow_run_id: str) -> None:
        self._run(ops.heartbeat(flow_run_id))

    def write_batch(
        self, task_runs: Sequence[dict[str, Any]], logs: Sequence[dict[str, Any]]
    ) -> None:
        self._run(ops.write_batch(task_runs, logs))

    def read_task_runs(
        self,
        task_run_filter: TaskRunFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]:
        return self._run(ops.read_task_runs(task_run_filter, limit, offset))

    def read_task_run(self, task_run_id: str) -> TaskRun:
        return self._run(ops.read_task_run(task_run_id))

    def read_task_run_states(self, task_run_id: str) -> list[StateRecord]:
        return self._run(ops.read_task_run_states(task_run_id))

    def read_task_run_states_for_flow_run(self, flow_run_id: str) -> dict[str, list[StateRecord]]:
        return self._run(ops.read_task_run_states_for_flow_run(flow_run_id))

    def read_logs(
        self, log_filter: LogFilter | None = None, *, limit: int = 1000, offset: int = 0
    ) -> list[LogRecord]:
        return self._run(ops.read_logs(log_filter, limit, offset))

    def create_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        return self._run(ops.create_concurrency_limit(tag, limit))

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        return self._run(ops.read_concurrency_limit(tag))

    def read_concurrency_limits(self) -> list[ConcurrencyLimit]:
        return self._run(ops.read_concurrency_limits())

    def delete_concurrency_limit(self, tag: str) -> None:
        self._run(ops.delete_concurrency_limit(tag))

    def acquire_concurrency_slots(
        self, tags: Sequence[str], holder: str, lease_seconds: float
    ) -> bool:
        return self._run(ops.acquire_concurrency_slots(tags, holder, lease_seconds))

    def renew_concurrency_slots(self, holder: str, lease_seconds: float) -> None:
        self._run(ops.renew_concurrency_slots(holder, lease_seconds))

    def release_concurrency_slots(self, holder: str) -> None:
        self._run(ops.release_concurrency_slots(holder))

    def vacuum(self, older_than: timedelta) -> int:
        return self._run(ops.vacuum(older_than))


class AsyncHttpClient:
    """``HttpClient``'s methods as coroutines, on ``httpx.AsyncClient``.

    Use it as ``async with AsyncHttpClient(url) as client: ...`` (or call ``aclose()``):
    an async client belongs to the event loop it was first used on.
    """

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_url = normalize_api_url(api_url)
        self.location = self.api_url
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(**_client_options(self.api_url, api_key, timeout))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """``HttpClient._request``, awaited."""
        return await self._send(ops.Request(method, path, json, params))

    async def _send(self, request: ops.Request) -> Any:
        content = encode_json(request.json) if request.json is not None else None
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = await self._http.request(
                    request.method,
                    request.path.lstrip("/"),
                    content=content,
                    params=request.params,
                    headers=_JSON if content is not None else None,
                )
            except _NOT_RETRYABLE:
                raise
            except httpx.TransportError as exc:
                error = exc
            outcome = _judge(request, response, error, attempt, self.retry, self.api_url)
            if outcome.delay is None:
                return outcome.value
            await asyncio.sleep(outcome.delay)
            attempt += 1

    async def _run(self, op: ops.Op[T]) -> T:
        try:
            request = next(op)
            while True:
                request = op.send(await self._send(request))
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def read_version(self) -> dict[str, Any]:
        return await self._run(ops.read_version())

    async def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[Flow]:
        return await self._run(ops.read_flows(limit, offset))

    async def create_flow_run(self, data: FlowRunCreate) -> FlowRun:
        return await self._run(ops.create_flow_run(data))

    async def read_flow_run(self, flow_run_id: str) -> FlowRun:
        return await self._run(ops.read_flow_run(flow_run_id))

    async def read_flow_runs(
        self,
        flow_run_filter: FlowRunFilter | None = None,
        *,
        sort: FlowRunSort = FlowRunSort.START_TIME_DESC,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRun]:
        return await self._run(ops.read_flow_runs(flow_run_filter, sort, limit, offset))

    async def count_flow_runs(self, flow_run_filter: FlowRunFilter | None = None) -> int:
        return await self._run(ops.count_flow_runs(flow_run_filter))

    async def set_flow_run_state(
        self, flow_run_id: str, state: StateCreate, *, force: bool = False
    ) -> OrchestrationResult:
        return await self._run(ops.set_flow_run_state(flow_run_id, state, force))

    async def cancel_flow_run(
        self, flow_run_id: str, message: str | None = None
    ) -> OrchestrationResult:
        return await self._run(ops.cancel_flow_run(flow_run_id, message))

    async def read_flow_run_states(self, flow_run_id: str) -> list[StateRecord]:
        return await self._run(ops.read_flow_run_states(flow_run_id))

    async def delete_flow_run(self, flow_run_id: str) -> None:
        await self._run(ops.delete_flow_run(flow_run_id))

    async def heartbeat(self, flow_run_id: str) -> None:
        await self._run(ops.heartbeat(flow_run_id))

    async def write_batch(
        self, task_runs: Sequence[dict[str, Any]], logs: Sequence[dict[str, Any]]
    ) -> None:
        await self._run(ops.write_batch(task_runs, logs))

    async def read_task_runs(
        self,
        task_run_filter: TaskRunFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]:
        return await self._run(ops.read_task_runs(task_run_filter, limit, offset))

    async def read_task_run(self, task_run_id: str) -> TaskRun:
        return await self._run(ops.read_task_run(task_run_id))

    async def read_task_run_states(self, task_run_id: str) -> list[StateRecord]:
        return await self._run(ops.read_task_run_states(task_run_id))

    async def read_task_run_states_for_flow_run(
        self, flow_run_id: str
    ) -> dict[str, list[StateRecord]]:
        return await self._run(ops.read_task_run_states_for_flow_run(flow_run_id))

    async def read_logs(
        self, log_filter: LogFilter | None = None, *, limit: int = 1000, offset: int = 0
    ) -> list[LogRecord]:
        return await self._run(ops.read_logs(log_filter, limit, offset))

    async def create_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        return await self._run(ops.create_concurrency_limit(tag, limit))

    async def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        return await self._run(ops.read_concurrency_limit(tag))

    async def read_concurrency_limits(self) -> list[ConcurrencyLimit]:
        return await self._run(ops.read_concurrency_limits())

    async def delete_concurrency_limit(self, tag: str) -> None:
        await self._run(ops.delete_concurrency_limit(tag))

    async def acquire_concurrency_slots(
        self, tags: Sequence[str], holder: str, lease_seconds: float
    ) -> bool:
        return await self._run(ops.acquire_concurrency_slots(tags, holder, lease_seconds))

    async def renew_concurrency_slots(self, holder: str, lease_seconds: float) -> None:
        await self._run(ops.renew_concurrency_slots(holder, lease_seconds))

    async def release_concurrency_slots(self, holder: str) -> None:
        await self._run(ops.release_concurrency_slots(holder))

    async def vacuum(self, older_than: timedelta) -> int:
        return await self._run(ops.vacuum(older_than))


__all__ = ["AsyncHttpClient", "HttpClient", "RetryPolicy", "encode_json", "normalize_api_url"]
