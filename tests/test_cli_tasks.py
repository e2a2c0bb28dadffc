"""``wiltonctl hpc schedule-task``: task-file validation and summary maths (no proxy)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys

import httpx
import pytest

from wilton_plugin.cli.main import main
from wilton_plugin.cli.tasks import Result, TaskFileError, load_tasks, parse_tasks, percentile, render, summarise
from wilton_plugin.cli import tasks_cmd
from wilton_plugin.cli.tasks_cmd import _Progress


def _write(tmp_path, content) -> str:
    path = tmp_path / "tasks.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"tasks": [', "not valid JSON"),
        ({"tasks": [{"id": "a", "max_tokens": 8}]}, "task 0 (id 'a'): needs exactly one of 'messages' (OpenAI format) or 'prompt'"),
        ([{"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "yo"}, {"id": "a", "prompt": "again"}],
         "task 2 (id 'a'): 'id' duplicates task 0"),
        ([{"id": "x", "prompt": "hi", "tier": "cloud"}], "task 0 (id 'x'): 'tier' has value 'cloud'; expected one of selfhost, edge, frontier, local"),
        ([{"id": "x", "prompt": "hi", "max_tokens": 0}], "task 0 (id 'x'): 'max_tokens' has value 0; expected a positive integer"),
        ([{"id": "x", "prompt": "hi", "max_tokens": 2.5}], "'max_tokens' has value 2.5; expected a positive integer"),
        ([{"id": "x", "prompt": "hi", "max_tokens": True}], "'max_tokens' has value True"),
        ([{"id": "x", "messages": [{"content": "no role"}]}], "task 0 (id 'x'): 'messages' has value"),
        ([{"prompt": "no id"}], "task 0: 'id' has value None"),
        ([{"id": "x", "prompt": "hi", "temperature": 1}], "unknown field(s) 'temperature'"),
        ({"jobs": []}, 'expected {"tasks": [...]} or a list of tasks'),
        ([], "the task list is empty"),
    ],
)
def test_a_bad_task_file_is_one_line_naming_task_and_field_and_exit_2(tmp_path, capsys, content, message):
    path = _write(tmp_path, content)
    assert main(["hpc", "schedule-task", "--file", path, "--proxy-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"wiltonctl: {path}: "), err
    assert message in err


def test_a_missing_file_and_a_team_key_is_never_echoed(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read the task file"):
        load_tasks(str(tmp_path / "nope.json"))
    with pytest.raises(TaskFileError) as info:
        parse_tasks([{"id": 1, "prompt": "hi", "team_key": 12345678}])
    assert "12345678" not in str(info.value) and "'team_key' must be a non-empty string" in str(info.value)


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    path = _write(tmp_path, [{"id": "x", "prompt": ""}])
    result = subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", "hpc", "schedule-task", "--file", path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"wiltonctl: {path}: task 0 (id 'x'): 'prompt' has value ''; expected a non-empty string\n"


def test_defaults_and_both_shapes():
    tasks = parse_tasks({"tasks": [{"id": 7, "prompt": "hi"},
                                   {"id": "m", "messages": [{"role": "user", "content": "yo"}], "model": "other",
                                    "max_tokens": 5, "tier": "local", "team_key": "sk-team"}]})
    assert tasks[0].id == "7" and tasks[0].messages == [{"role": "user", "content": "hi"}]
    assert (tasks[0].model, tasks[0].max_tokens, tasks[0].tier, tasks[0].team_key) == ("chat", 64, None, None)
    assert (tasks[1].model, tasks[1].max_tokens, tasks[1].tier, tasks[1].team_key) == ("other", 5, "local", "sk-team")


def test_the_shipped_demo_file_is_valid_generated_and_mixed():
    tasks = load_tasks("examples/llm_demo.json")
    assert 250 <= len(tasks) <= 400
    kinds = {t.id.split("-")[0] for t in tasks}
    assert kinds == {"chat", "summary", "code", "maths"}
    assert all(24 <= t.max_tokens <= 48 and t.tier is None for t in tasks)
    result = subprocess.run([sys.executable, "examples/make_llm_demo.py", "--check"], timeout=60)
    assert result.returncode == 0, "examples/llm_demo.json is stale: run python examples/make_llm_demo.py"


def test_percentiles_and_summary_maths():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)
    results = [
        Result("a", True, 200, "selfhost", "selfhost-x", "x", 0.1, 10, 5, 0.0),
        Result("b", True, 200, "edge", "edge-y", "y", 0.3, 10, 5, 0.0),
        Result("c", True, 200, "selfhost", "selfhost-x", "x", 0.2, 10, 5, 0.0),
        Result("d", True, 200, "frontier", "frontier-simulated", "gpt", 0.4, 10, 10, 0.002),
        Result("e", False, 500, None, None, None, 0.0, error="boom"),
    ]
    summary = summarise(results, phi_target=0.75, target_source="proxy", elapsed_s=1.0, concurrency=2)
    assert (summary["tasks"], summary["succeeded"], summary["failed"]) == (5, 4, 1)
    assert summary["phi"]["observed"] == 0.75 and summary["phi"]["deviation_pp"] == 0.0
    rows = {(r["tier"], r["deployment"]): r for r in summary["rows"]}
    assert [r["tier"] for r in summary["rows"]] == ["selfhost", "edge", "frontier"]
    assert rows[("selfhost", "selfhost-x")]["requests"] == 2
    assert rows[("selfhost", "selfhost-x")]["latency_ms"] == {"p50": 150.0, "p95": 195.0}
    assert rows[("frontier", "frontier-simulated")]["simulated"] is True
    assert rows[("edge", "edge-y")]["simulated"] is False
    assert summary["tokens"] == 65 and summary["cost_usd"] == 0.002
    assert summary["failures"] == [{"id": "e", "status": 500, "error": "boom"}]
    text = render(summary)
    assert "frontier-simulated (simulated)" in text and "phi observed 0.750 (3/4 local) vs target 0.750" in text
    assert "failed: task 'e': 500: boom" in text and "5 tasks, 4 succeeded, 1 failed" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_tty_and_lines_otherwise():
    tty = _Tty()
    meter = _Progress(4, tty)
    for done in range(1, 5):
        meter.update(done, 1 if done > 2 else 0)
    meter.close()
    assert tty.getvalue().startswith("\r[#######") and tty.getvalue().endswith("] 4/4 (1 failed)\n")
    plain = io.StringIO()
    meter = _Progress(100, plain)
    for done in range(1, 101):
        meter.update(done, 0)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and 10 <= len(lines) <= 12 and lines[-1] == "progress: 100/100 done, 0 failed"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hpc", "schedule-task", "--file", "F", "--concurrency", "abc"],
         "argument --concurrency: must be a whole number >= 1, not 'abc'"),
        (["hpc", "schedule-task", "--file", "F", "--concurrency", "0"],
         "argument --concurrency: must be a whole number >= 1, not '0'"),
        (["hpc", "schedule-task", "--file", "F", "--phi-target", "5"],
         "argument --phi-target: must be a number in [0, 1], not '5'"),
        (["hpc", "schedule-task", "--file", "F", "--phi-target", "nan"],
         "argument --phi-target: must be a number in [0, 1], not 'nan'"),
        (["hpc", "schedule-task", "--file", "F", "--timeout", "-1"],
         "argument --timeout: must be a number of seconds > 0, not '-1'"),
        (["hpc", "schedule-task", "--file", "F", "--timeout", "inf"],
         "argument --timeout: must be a number of seconds > 0, not 'inf'"),
        (["status", "--timeout", "-1"], "argument --timeout: must be a number of seconds > 0, not '-1'"),
        (["doctor", "--config", "F", "--timeout", "nan"],
         "argument --timeout: must be a number of seconds > 0, not 'nan'"),
    ],
    ids=["concurrency-abc", "concurrency-0", "phi-5", "phi-nan", "timeout-negative", "timeout-inf", "status-timeout",
         "doctor-timeout"],
)
def test_a_bad_number_is_a_usage_error_saying_what_is_valid(capsys, argv, message):
    """argparse's usage, then one line saying what is valid; exit 2 before anything is sent."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(f"error: {message}"), err
    assert "_positive_int" not in err and "ValueError" not in err


def test_an_unreachable_proxy_stops_after_the_probe_with_one_line(tmp_path):
    with socket.socket() as sock:  # a loopback port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = _write(tmp_path, [{"id": str(i), "prompt": "hi"} for i in range(50)])
    result = subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", "hpc", "schedule-task", "--file", path,
                             "--proxy-url", f"http://127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"wiltonctl: the proxy at http://127.0.0.1:{port} cannot be reached (ConnectError")
    assert "no task was sent" in result.stderr and "--proxy-url" in result.stderr


def _recording(handler):
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return handler(request)

    return seen, httpx.MockTransport(record)


def test_the_probe_is_the_only_request_when_no_connection_can_be_made():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    seen, transport = _recording(refuse)
    tasks = parse_tasks([{"id": str(i), "prompt": "hi"} for i in range(20)])
    with pytest.raises(tasks_cmd.ProxyUnreachable, match="cannot be reached"):
        asyncio.run(tasks_cmd.run_tasks(tasks, "http://proxy.test", None, concurrency=4, timeout=5, phi_target=0.75,
                              progress=None, transport=transport))
    assert seen == ["/wilton/status"]


def test_a_proxy_answering_an_http_error_still_gets_the_tasks():
    """Reachable: a 500 (or 401) from /wilton/status is no reason to stop; --phi-target is the target."""
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/wilton/status":
            return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(200, headers={"x-wilton-tier": "edge", "x-litellm-model-id": "edge-1"},
                              json={"model": "m", "usage": {"prompt_tokens": 2, "completion_tokens": 3}})

    seen, transport = _recording(answer)
    tasks = parse_tasks([{"id": str(i), "prompt": "hi"} for i in range(3)])
    summary = asyncio.run(tasks_cmd.run_tasks(tasks, "http://proxy.test", None, concurrency=2, timeout=5, phi_target=0.8,
                                    progress=None, transport=transport))
    assert summary["failed"] == 0 and seen.count("/v1/chat/completions") == 3
    assert summary["phi"]["target"] == 0.8 and summary["phi"]["target_source"] == "--phi-target"
