"""The public surface: ``tideflow.__all__`` and the seed's module paths.

Removing a name from here is a breaking change for users; adding one is a decision.
"""

from __future__ import annotations

import importlib

import pytest

import tideflow

TOP_LEVEL = [
    "Flow",
    "PrefectFuture",
    "State",
    "Task",
    "TideflowFuture",
    "__version__",
    "allow_failure",
    "flow",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "quote",
    "tags",
    "task",
    "unmapped",
]

# Module path -> names the seed (or issue 2) imports from it.
SEED_PATHS = {
    "tideflow.task_runners": ["SequentialTaskRunner", "ConcurrentTaskRunner", "TaskRunner"],
    "tideflow.logging": ["get_run_logger"],
    "tideflow.serializers": [
        "PickleSerializer",
        "JSONSerializer",
        "CompressedSerializer",
        "CompressedPickleSerializer",
        "CompressedJSONSerializer",
        "Serializer",
    ],
    "tideflow.states": [
        "State",
        "StateType",
        "Scheduled",
        "Late",
        "Pending",
        "Running",
        "Retrying",
        "AwaitingRetry",
        "Completed",
        "Cached",
        "Failed",
        "TimedOut",
        "Crashed",
        "Cancelling",
        "Cancelled",
        "Paused",
    ],
    "tideflow.tasks": ["task", "Task", "task_input_hash", "exponential_backoff"],
    "tideflow.flows": ["flow", "Flow"],
    "tideflow.testing": ["tideflow_test_harness", "prefect_test_harness"],
    "tideflow.deployments": ["Deployment", "run_deployment"],
    "tideflow.infrastructure": ["Process"],
    "tideflow.infrastructure.process": ["Process"],
}


def _is_sorted(names: list[str]) -> bool:
    """Plain sort, or ruff's isort-style sort (CONSTANTS, Classes, functions)."""

    def isort_key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name

    return names in (sorted(names), sorted(names, key=isort_key))


def test_top_level_all_is_pinned_and_sorted() -> None:
    assert sorted(tideflow.__all__) == sorted(TOP_LEVEL)
    assert _is_sorted(tideflow.__all__)
    for name in TOP_LEVEL:
        assert hasattr(tideflow, name), name


def test_seed_imports_work() -> None:
    from tideflow import allow_failure, flow, get_run_logger, tags, task, unmapped
    from tideflow.logging import get_run_logger as logging_get_run_logger
    from tideflow.serializers import JSONSerializer, PickleSerializer
    from tideflow.task_runners import ConcurrentTaskRunner, SequentialTaskRunner
    from tideflow.tasks import exponential_backoff, task_input_hash
    from tideflow.testing import tideflow_test_harness

    assert logging_get_run_logger is get_run_logger
    assert callable(flow) and callable(task) and callable(tags)
    assert unmapped(1).value == 1 and allow_failure(2).value == 2
    assert JSONSerializer().type == "json" and PickleSerializer().type == "pickle"
    assert issubclass(ConcurrentTaskRunner, tideflow.task_runners.TaskRunner)
    assert issubclass(SequentialTaskRunner, tideflow.task_runners.TaskRunner)
    assert exponential_backoff(1)(2) == [1, 2]
    assert callable(task_input_hash) and callable(tideflow_test_harness)


@pytest.mark.parametrize("module_name", sorted(SEED_PATHS))
def test_seed_module_paths(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    assert _is_sorted(exported), f"{module_name}.__all__ is not sorted"
    for name in SEED_PATHS[module_name]:
        assert name in exported, f"{module_name}.__all__ lacks {name}"
        assert hasattr(module, name), f"{module_name} lacks {name}"


@pytest.mark.parametrize("module_name", sorted(SEED_PATHS))
def test_star_import_exports_exist(module_name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert name in namespace


def test_prefect_aliases() -> None:
    from tideflow.testing import prefect_test_harness, tideflow_test_harness

    assert tideflow.PrefectFuture is tideflow.TideflowFuture
    assert prefect_test_harness is tideflow_test_harness


def test_state_constructors_have_prefect_types_and_names() -> None:
    from tideflow import states

    expected = {
        "Scheduled": ("SCHEDULED", "Scheduled"),
        "Late": ("SCHEDULED", "Late"),
        "AwaitingRetry": ("SCHEDULED", "AwaitingRetry"),
        "Pending": ("PENDING", "Pending"),
        "Running": ("RUNNING", "Running"),
        "Retrying": ("RUNNING", "Retrying"),
        "Completed": ("COMPLETED", "Completed"),
        "Cached": ("COMPLETED", "Cached"),
        "Failed": ("FAILED", "Failed"),
        "TimedOut": ("FAILED", "TimedOut"),
        "Crashed": ("CRASHED", "Crashed"),
        "Cancelling": ("CANCELLING", "Cancelling"),
        "Cancelled": ("CANCELLED", "Cancelled"),
        "Paused": ("PAUSED", "Paused"),
    }
    for constructor, (type_, name) in expected.items():
        state = getattr(states, constructor)()
        assert (state.type.value, state.name) == (type_, name), constructor


def test_version_is_a_string() -> None:
    assert isinstance(tideflow.__version__, str) and tideflow.__version__.count(".") >= 1
