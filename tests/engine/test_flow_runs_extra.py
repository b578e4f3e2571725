"""Flow-run behaviour beyond the basics: timeouts that cover submitted task runs,
Prefect-style run context objects, and hooks when parameters are rejected."""

from __future__ import annotations


def test_flow_timeout_covers_submitted_task_runs() -> None:
    import threading
    import time

    from tideflow import flow, task
    from tideflow.task_runners import ConcurrentTaskRunner

    release = threading.Event()

    @task
    def stuck() -> None:
        release.wait(30)

    @flow(timeout_seconds=0.5, task_runner=ConcurrentTaskRunner())
    def impatient() -> None:
        stuck.submit()

    started = time.monotonic()
    state = impatient(return_state=True)
    elapsed = time.monotonic() - started
    release.set()
    assert state.name == "TimedOut"
    assert "waiting for its task runs" in (state.message or "")
    assert elapsed < 15, f"the flow waited {elapsed:.1f}s for a task past its timeout"


def test_run_context_exposes_flow_run_and_task_run_like_prefect() -> None:
    from tideflow import flow, get_run_context, task

    @task(retries=1, retry_delay_seconds=0)
    def inner(x: int) -> tuple[str, str, int, str | None]:
        ctx = get_run_context()
        run = ctx.task_run  # type: ignore[union-attr]
        if run.run_count == 1:
            raise RuntimeError("first attempt fails")
        parent = ctx.flow_run  # type: ignore[union-attr]
        return run.name, str(run.parameters["x"]), run.run_count, parent.name if parent else None

    @flow(flow_run_name="ctx-{n}")
    def outer(n: int) -> tuple[str, tuple[str, str, int, str | None]]:
        return get_run_context().flow_run.name, inner(n)  # type: ignore[union-attr]

    flow_name, (task_name, x, run_count, parent) = outer(7)
    assert flow_name == "ctx-7" and parent == "ctx-7"
    assert task_name.startswith("inner-") and x == "7" and run_count == 2


def test_on_failure_hooks_run_when_parameters_are_rejected() -> None:
    from tideflow import flow

    seen: list[tuple[str, str]] = []

    @flow(on_failure=[lambda f, run, state: seen.append((run.name, state.name))])
    def typed(n: int) -> int:
        return n

    state = typed("not a number", return_state=True)  # type: ignore[arg-type]
    assert state.is_failed()
    assert len(seen) == 1 and seen[0][1] == "Failed"


def test_futures_nested_in_a_returned_dict_are_resolved() -> None:
    from tideflow import flow, task
    from tideflow.task_runners import ConcurrentTaskRunner

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def boom() -> int:
        raise ValueError("nested failure")

    @flow(task_runner=ConcurrentTaskRunner())
    def report() -> dict[str, object]:
        return {"a": double.submit(1), "b": [double.submit(2), double.submit(3)]}

    @flow(task_runner=ConcurrentTaskRunner())
    def broken() -> dict[str, object]:
        return {"ok": double.submit(1), "bad": boom.submit()}

    assert report() == {"a": 2, "b": [4, 6]}
    state = broken(return_state=True)
    assert state.is_failed()
    assert "boom" in (state.message or "")
