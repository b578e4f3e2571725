"""Run loggers: lines stored with their runs, ``log_prints``, console format."""

from __future__ import annotations

import asyncio
import builtins
import logging
import sys
import threading
from typing import Any

import pytest

from tideflow import flow, get_run_logger, task
from tideflow.client import get_client
from tideflow.engine import logs
from tideflow.engine.logs import ConsoleFormatter
from tideflow.exceptions import MissingContextError
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from tideflow.task_runners import ConcurrentTaskRunner


def only_run(name: str) -> Any:
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=[name]))
    return run


def logs_of(flow_run_id: str) -> list[Any]:
    return get_client().read_logs(LogFilter(flow_run_id_any=[flow_run_id]))


def messages_of(flow_run_id: str) -> list[str]:
    return [line.message for line in logs_of(flow_run_id)]


def all_messages() -> list[str]:
    return [line.message for line in get_client().read_logs(LogFilter())]


def test_flow_and_task_loggers_store_lines_with_run_ids() -> None:
    @task
    def work(x: int) -> int:
        get_run_logger().info("working on %s", x)
        get_run_logger().warning("careful")
        return x

    @flow
    def pipeline() -> int:
        logger = get_run_logger()
        logger.info("Starting training pipeline for date: %s", "2023-01-01")
        return work(1)

    pipeline()
    run = only_run("pipeline")
    (task_run,) = get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    lines = {line.message: line for line in logs_of(run.id)}
    flow_line = lines["Starting training pipeline for date: 2023-01-01"]
    assert flow_line.flow_run_id == run.id and flow_line.task_run_id is None
    assert flow_line.level == logging.INFO
    task_line = lines["working on 1"]
    assert task_line.flow_run_id == run.id and task_line.task_run_id == task_run.id
    assert lines["careful"].level == logging.WARNING
    by_task = get_client().read_logs(LogFilter(task_run_id_any=[task_run.id]))
    assert [line.message for line in by_task] == ["working on 1", "careful"]
    warnings = get_client().read_logs(LogFilter(flow_run_id_any=[run.id], level_ge=logging.WARNING))
    assert [line.message for line in warnings] == ["careful"]


def test_get_run_logger_outside_a_run() -> None:
    with pytest.raises(MissingContextError, match="flow or task") as info:
        get_run_logger()
    assert isinstance(info.value, RuntimeError)


def test_logged_exception_keeps_its_traceback() -> None:
    @flow
    def f() -> None:
        try:
            {}["missing"]
        except KeyError:
            get_run_logger().exception("lookup failed")

    f()
    (line,) = [m for m in messages_of(only_run("f").id) if m.startswith("lookup failed")]
    assert "Traceback" in line and "KeyError: 'missing'" in line


def test_extra_fields_do_not_break_logging() -> None:
    @flow
    def f() -> None:
        get_run_logger(component="trainer").info("with extra")
        get_run_logger().info("with call extra", extra={"step": 3})

    f()
    assert {"with extra", "with call extra"} <= set(messages_of(only_run("f").id))


def test_log_prints_captures_print(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def child_task() -> None:
        print("printed in task", 42)

    @flow(log_prints=True)
    def printing() -> None:
        print("printed in flow")
        print("to stderr", file=sys.stderr)
        child_task()

    printing()
    run = only_run("printing")
    messages = messages_of(run.id)
    assert "printed in flow" in messages and "printed in task 42" in messages
    assert "to stderr" not in messages  # only prints to stdout are captured
    (task_run,) = get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    (task_line,) = [line for line in logs_of(run.id) if line.message == "printed in task 42"]
    assert task_line.task_run_id == task_run.id
    out = capsys.readouterr()
    assert "printed in flow" not in out.out
    assert "to stderr" in out.err


def test_prints_are_not_captured_without_log_prints(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def quiet_task() -> None:
        print("task print")

    @flow
    def quiet() -> None:
        print("flow print")
        quiet_task()

    quiet()
    assert not {"flow print", "task print"} & set(all_messages())
    out = capsys.readouterr().out
    assert "flow print" in out and "task print" in out


def test_task_log_prints_overrides_its_flow(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Start from an unpatched print, as in a fresh process where no flow enabled it.
    monkeypatch.setattr(builtins, "print", logs._original_print)
    monkeypatch.setattr(logs, "_print_patched", False)

    @task(log_prints=True)
    def loud() -> None:
        print("loud task print")

    @task(log_prints=False)
    def silent() -> None:
        print("silent task print")

    @flow
    def plain_flow() -> None:
        print("plain flow print")
        loud()

    @flow(log_prints=True)
    def printing_flow() -> None:
        silent()

    plain_flow()
    printing_flow()
    messages = all_messages()
    assert "loud task print" in messages
    assert "plain flow print" not in messages
    assert "silent task print" not in messages
    out = capsys.readouterr().out
    assert "plain flow print" in out and "silent task print" in out


def test_print_outside_runs_is_untouched(capsys: pytest.CaptureFixture[str]) -> None:
    @flow(log_prints=True)
    def enables() -> None:
        print("inside")

    enables()
    print("outside any run")
    assert "outside any run" in capsys.readouterr().out
    assert "outside any run" not in all_messages()


def test_subflow_lines_belong_to_the_subflow_run() -> None:
    @flow
    def child() -> None:
        get_run_logger().info("child says hi")

    @flow
    def parent() -> None:
        get_run_logger().info("parent says hi")
        child()

    parent()
    parent_run, child_run = only_run("parent"), only_run("child")
    parent_messages = messages_of(parent_run.id)
    child_messages = messages_of(child_run.id)
    assert "parent says hi" in parent_messages and "child says hi" not in parent_messages
    assert "child says hi" in child_messages
    # The engine's own lines about each run are stored with that run, not its parent.
    assert not any("'child'" in m for m in parent_messages)
    assert any("Beginning flow run" in m and "'child'" in m for m in child_messages)
    assert any("Beginning flow run" in m and "'parent'" in m for m in parent_messages)
    assert any("finished in state" in m.lower() for m in parent_messages)
    assert any("finished in state" in m.lower() for m in child_messages)


def test_engine_lines_of_a_failed_run_are_stored() -> None:
    @flow
    def fails() -> None:
        raise ValueError("x")

    fails(return_state=True)
    messages = messages_of(only_run("fails").id)
    assert any("finished in state" in m.lower() and "Failed" in m for m in messages)


def test_invalid_parameters_are_logged_with_the_run() -> None:
    @flow
    def typed(n: int) -> None: ...

    typed("x", return_state=True)  # type: ignore[arg-type]
    messages = messages_of(only_run("typed").id)
    assert any("'n'" in m and "'x'" in m for m in messages)


def test_lines_from_concurrent_tasks_carry_their_own_task_run_id() -> None:
    @task
    def worker(i: int) -> None:
        get_run_logger().info("worker %d on %s", i, threading.current_thread().name)

    @flow(task_runner=ConcurrentTaskRunner(8))
    def many() -> None:
        for fut in worker.map(range(40)):
            fut.wait()

    many()
    run = only_run("many")
    task_runs = get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    by_id = {tr.id: tr for tr in task_runs}
    lines = [line for line in logs_of(run.id) if line.message.startswith("worker ")]
    assert len(lines) == 40
    for line in lines:
        index = int(line.message.split()[1])
        assert line.task_run_id in by_id
        assert by_id[line.task_run_id].dynamic_key == str(index)


def test_async_task_lines_carry_their_task_run_id() -> None:
    @task
    async def aworker(i: int) -> None:
        await asyncio.sleep(0.01)
        get_run_logger().info("async worker %d", i)

    @flow
    async def amany() -> None:
        for fut in [aworker.submit(i) for i in range(10)]:
            fut.wait()

    asyncio.run(amany())
    run = only_run("amany")
    task_runs = {
        tr.dynamic_key: tr.id
        for tr in get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    }
    lines = [line for line in logs_of(run.id) if line.message.startswith("async worker")]
    assert len(lines) == 10
    for line in lines:
        assert line.task_run_id == task_runs[line.message.split()[-1]]


def test_standalone_task_logs_are_stored_with_the_task_run() -> None:
    @task
    def alone() -> None:
        get_run_logger().info("standalone line")

    alone()
    (task_run,) = get_client().read_task_runs(TaskRunFilter())
    lines = get_client().read_logs(LogFilter(task_run_id_any=[task_run.id]))
    assert [line.message for line in lines] == ["standalone line"]
    assert lines[0].flow_run_id is None


def test_console_format_is_readable() -> None:
    record = logging.LogRecord(
        "tideflow.task_runs", logging.INFO, __file__, 1, "hi %s", ("x",), None
    )
    record.task_run_name = "extract-1a2"
    text = ConsoleFormatter(color=False).format(record)
    assert "| INFO    | Task run 'extract-1a2' - hi x" in text
    coloured = ConsoleFormatter(color=True).format(record)
    assert "\x1b[" in coloured and "hi x" in coloured
    flow_record = logging.LogRecord("tideflow.flow_runs", logging.ERROR, __file__, 1, "m", (), None)
    flow_record.flow_run_name = "red-fox"
    assert "Flow run 'red-fox' - m" in ConsoleFormatter(color=False).format(flow_record)


def test_get_logger_and_plain_loggers_inside_runs() -> None:
    from tideflow.logging import get_logger

    assert get_logger().name == "tideflow" and get_logger("x").name == "tideflow.x"

    @flow
    def f() -> None:
        get_logger("custom").warning("tideflow namespace line")
        logging.getLogger("someone.else").warning("foreign line")

    f()
    messages = messages_of(only_run("f").id)
    assert "tideflow namespace line" in messages
    assert "foreign line" not in messages  # only tideflow's loggers ship to the store
