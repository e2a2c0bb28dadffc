"""The insight sidecar's loop in simulated time (its wait is a recording function): a failed run is
retried sooner, backing off up to the interval; a problem is logged once while it lasts, then its
end; an unexpected error is logged without a URL's credentials.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecars.common.http import PrometheusError
from sidecars.insight.collect import InsightAdminClient
from sidecars.insight.loop import InsightJob
from sidecars.insight.metrics import InsightMetrics

INTERVAL = 600.0


class Reader:
    """A RangeReader whose Prometheus is up (no series), away, or throws what ``error`` says."""

    def __init__(self) -> None:
        self.error: Exception | None = PrometheusError("Prometheus unreachable at http://***@prom:9090 (ConnectError)")
        self.queries = 0

    def range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        self.queries += 1
        if self.error is not None:
            raise self.error
        return []


def _proxy(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/wilton/token":
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 300})
    if request.url.path == "/wilton/decisions":
        return httpx.Response(200, json={"decisions": []})
    if request.url.path == "/wilton/status":
        return httpx.Response(200, json={"phi_target": 0.75, "team_targets": {}})
    return httpx.Response(404)


@pytest.fixture
def client():
    with httpx.Client(transport=httpx.MockTransport(_proxy)) as c:
        yield c


def _job(tmp_path: Path, client: httpx.Client, reader: Reader, *, decisions: bool = False) -> InsightJob:
    admin = InsightAdminClient("http://proxy", "insight", "pw-not-logged", client) if decisions else None
    return InsightJob(client=client, reader=reader, admin=admin, proxy_url="http://proxy", api_key=None,
                      model_group="chat", out=tmp_path, hours=1, max_tasks=100 if decisions else 0,
                      metrics=InsightMetrics(), clock=lambda: 100_000.0)


class Stop(threading.Event):
    """The loop's stop event, whose wait (the loop's sleep) is recorded instead of slept; set after ``runs``
    runs, and ``before_run(n)`` is called before the n-th run (from 1)."""

    def __init__(self, runs: int, before_run) -> None:
        super().__init__()
        self.runs, self.before_run, self.waits = runs, before_run, []
        before_run(1)

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) == self.runs:
            self.set()
        else:
            self.before_run(len(self.waits) + 1)
        return self.is_set()


def _run(job: InsightJob, runs: int, before_run=lambda n: None) -> list[float]:
    """Run the loop for ``runs`` runs in simulated time; the waits it asked for."""
    stop = Stop(runs, before_run)
    assert job.run(stop, INTERVAL) == 0
    return stop.waits


def _lines(caplog, level: str, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == level and text in r.getMessage()]


def test_failed_runs_are_retried_sooner_backing_off_up_to_the_interval_and_logged_once(tmp_path, client, caplog):
    reader = Reader()
    job = _job(tmp_path, client, reader)

    def prometheus_back_at_run_8(n: int) -> None:
        if n == 8:
            reader.error = None

    with caplog.at_level(logging.DEBUG, logger="wilton.insight"):
        waits = _run(job, 9, prometheus_back_at_run_8)
    assert waits == [60, 120, 240, 480, 600, 600, 600, INTERVAL, INTERVAL]  # never longer than the interval
    (failed,) = _lines(caplog, "ERROR", "run failed")
    assert "nothing could be collected (Prometheus: Prometheus unreachable at http://***@prom:9090" in failed
    assert failed.endswith("next try in 60 s (logged again when it changes or ends)")
    assert len(_lines(caplog, "DEBUG", "still failing")) == 6
    assert _lines(caplog, "INFO", "recovered") == ["recovered: no longer failing, after 7 run(s)"]
    assert not _lines(caplog, "WARNING", "partial")
    runs = job.metrics.registry.get_sample_value
    assert runs("wilton_insight_runs_total", {"result": "failed"}) == 7
    assert runs("wilton_insight_runs_total", {"result": "ok"}) == 2


def test_after_a_recovery_a_new_failure_starts_again_from_the_first_retry(tmp_path, client):
    reader = Reader()
    job = _job(tmp_path, client, reader)

    def flap(n: int) -> None:
        reader.error = None if n == 3 else PrometheusError("Prometheus answered HTTP 503")

    assert _run(job, 5, flap) == [60, 120, INTERVAL, 60, 120]


def test_a_partial_run_waits_the_interval_and_its_problem_is_logged_once_then_its_end(tmp_path, client, caplog):
    reader = Reader()
    job = _job(tmp_path, client, reader, decisions=True)

    def prometheus_back_at_run_4(n: int) -> None:
        if n == 4:
            reader.error = None

    with caplog.at_level(logging.INFO, logger="wilton.insight"):
        waits = _run(job, 5, prometheus_back_at_run_4)
    assert waits == [INTERVAL] * 5  # a partial report is written: nothing to retry sooner
    (partial,) = _lines(caplog, "WARNING", "partial report")
    assert partial.startswith("partial report: Prometheus: Prometheus unreachable at http://***@prom:9090")
    assert _lines(caplog, "INFO", "recovered") == ["recovered: no longer partial, after 3 run(s)"]
    assert len(_lines(caplog, "INFO", "wrote ")) == 5  # every report written is named
    assert not _lines(caplog, "ERROR", "")


def test_an_unexpected_error_is_backed_off_and_logged_once_without_a_urls_credentials(tmp_path, client, caplog):
    reader = Reader()
    reader.error = RuntimeError("cannot reach http://user:s3cret@prom:9090/api?token=t0ken")
    job = _job(tmp_path, client, reader)
    with caplog.at_level(logging.DEBUG, logger="wilton.insight"):
        waits = _run(job, 3)
    assert waits == [60, 120, 240]
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    (failed,) = _lines(caplog, "ERROR", "run failed")
    assert failed.startswith("run failed: unexpected error in a run: RuntimeError: cannot reach "
                             "http://***@prom:9090/api?token=***")
    assert caplog.text.count("Traceback") == 1  # at DEBUG, with the first report of the error
    assert len(_lines(caplog, "DEBUG", "still failing")) == 2
    assert job.metrics.registry.get_sample_value("wilton_insight_runs_total", {"result": "failed"}) == 3


def test_no_recommendations_is_a_warning_on_the_first_run_and_when_its_reason_changes_then_debug(
        tmp_path, client, caplog):
    reader = Reader()
    reader.error = None  # every run writes a report; only the LLM call fails
    job = _job(tmp_path, client, reader)  # no API key

    def key_from_run_4(n: int) -> None:
        if n == 4:
            job.api_key = "sk-test"  # the proxy answers 404 to the LLM call: another reason

    with caplog.at_level(logging.DEBUG, logger="wilton.insight"):
        _run(job, 6, key_from_run_4)
    no_key = "no API key for the LLM call through the proxy (set WILTON_INSIGHT_API_KEY or --api-key)"
    http_404 = "the proxy answered HTTP 404 to the LLM request (model group 'chat')"
    assert _lines(caplog, "WARNING", "no recommendations") == [
        f"no recommendations: {no_key} (logged again when it changes or ends)",
        f"no recommendations: {http_404} (logged again when it changes or ends)"]
    assert _lines(caplog, "DEBUG", "still no recommendations") == [
        f"still no recommendations: {no_key}"] * 2 + [f"still no recommendations: {http_404}"] * 2
    report = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert report["llm"]["why_none"] == http_404  # every report still says why
    assert job.metrics.registry.get_sample_value("wilton_insight_errors_total", {"stage": "llm"}) == 6


def test_when_the_llm_answers_again_one_line_says_so_and_a_new_loss_is_a_warning_again(tmp_path, caplog):
    answers = iter([503, 200, 503])

    def proxy(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/chat/completions":
            return _proxy(request)
        status = next(answers)
        content = '{"recommendations": []}'
        return httpx.Response(status, json={"choices": [{"message": {"content": content}}]})

    reader = Reader()
    reader.error = None
    with httpx.Client(transport=httpx.MockTransport(proxy)) as c:
        job = _job(tmp_path, c, reader)
        job.api_key = "sk-test"
        with caplog.at_level(logging.INFO, logger="wilton.insight"):
            _run(job, 3)
    http_503 = "the proxy answered HTTP 503 to the LLM request (model group 'chat')"
    assert _lines(caplog, "WARNING", "no recommendations") == [
        f"no recommendations: {http_503} (logged again when it changes or ends)"] * 2
    assert _lines(caplog, "INFO", "the LLM answered again") == [
        f"the LLM answered again (no recommendations before: {http_503})"]
