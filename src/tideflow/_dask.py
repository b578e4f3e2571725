"""``DaskTaskRunner``: run task functions on a Dask cluster (``pip install tideflow[dask]``).

Orchestration stays in the flow's process: states, retries, caching, logging and
records are handled locally, exactly as with the other runners; only the task's
function call is shipped to a Dask worker (cloudpickled), and its return value comes
back. Submitted task runs are driven from a local thread pool, so many can wait on the
cluster at once.

Example:
    >>> from tideflow import flow, task
    >>> from tideflow.task_runners import DaskTaskRunner
    >>> @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False}))
    ... def distributed():
    ...     ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tideflow.task_runners import ConcurrentTaskRunner

try:
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "DaskTaskRunner needs the optional 'distributed' package: pip install 'tideflow[dask]'"
    ) from exc


class DaskTaskRunner(ConcurrentTaskRunner):
    """Runs task functions on a Dask cluster.

    Args:
        address: connect to an existing scheduler (``"tcp://host:8786"``) instead of
            starting a cluster.
        cluster_class: the cluster to start (default ``distributed.LocalCluster``);
            a class or its import path (``"dask_kubernetes.KubeCluster"``).
        cluster_kwargs: arguments for the cluster.
        client_kwargs: arguments for ``distributed.Client``.
        max_workers: local threads that drive submitted task runs (default 32).
    """

    name = "dask"
    routes_calls = True

    def __init__(
        self,
        address: str | None = None,
        cluster_class: type[Any] | str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        max_workers: int | None = None,
    ) -> None:
        if address is not None and (cluster_class is not None or cluster_kwargs):
            raise ValueError("Give either address= or cluster_class/cluster_kwargs, not both")
        super().__init__(max_workers or 32)
        self.address = address
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._cluster: Any = None
        self._client: distributed.Client | None = None

    def duplicate(self) -> DaskTaskRunner:
        return DaskTaskRunner(
            self.address, self.cluster_class, self.cluster_kwargs, self.client_kwargs,
            self.max_workers,
        )  # fmt: skip

    def start(self) -> None:
        """Nothing until the first task: flows that never call a task pay nothing."""

    def _dask_client(self) -> distributed.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.address is not None:
                        self._client = distributed.Client(self.address, **self.client_kwargs)
                    else:
                        cls = _resolve(self.cluster_class) if self.cluster_class else None
                        cls = cls or distributed.LocalCluster
                        kwargs = {"dashboard_address": None, **self.cluster_kwargs}
                        self._cluster = cls(**kwargs)
                        self._client = distributed.Client(self._cluster, **self.client_kwargs)
        return self._client

    def invoke(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = self._dask_client()
        # pure=False: two runs of a task with equal inputs are two runs, not one.
        future = client.submit(fn, *args, pure=False, **kwargs)
        return future.result()

    def shutdown(self) -> None:
        super().shutdown()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __repr__(self) -> str:
        where = self.address or getattr(self.cluster_class, "__name__", "LocalCluster")
        return f"DaskTaskRunner({where})"


def _resolve(spec: type[Any] | str) -> type[Any]:
    if isinstance(spec, str):
        import importlib

        module, _, name = spec.rpartition(".")
        if not module:
            raise ValueError(f"cluster_class {spec!r} must be a class or 'module.ClassName'")
        return getattr(importlib.import_module(module), name)
    return spec
