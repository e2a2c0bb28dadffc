"""The insight sidecar's loop: an unexpected error is logged without a URL's credentials."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx

from sidecars.insight.loop import FAILED, InsightJob
from sidecars.insight.metrics import InsightMetrics


def _job(tmp_path: Path, client: httpx.Client) -> InsightJob:
    return InsightJob(client=client, reader=None, admin=None, proxy_url="http://proxy", api_key=None, model_group="chat",
                      out=tmp_path, hours=1, max_tasks=0, metrics=InsightMetrics(), clock=lambda: 100_000.0)


def test_an_unexpected_error_naming_a_url_is_logged_without_its_credentials(tmp_path, caplog):
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(404))) as client:
        job = _job(tmp_path, client)

        def boom() -> int:
            raise RuntimeError("cannot reach http://user:s3cret@prom:9090/api?token=t0ken")

        job.run_once = boom
        for level in (logging.INFO, logging.DEBUG):
            with caplog.at_level(level, logger="wilton.insight"):
                assert job.run(threading.Event(), 60, once=True) == FAILED
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    assert caplog.text.count("unexpected error in a run: RuntimeError: cannot reach http://***@prom:9090/api?token=***") == 2
    assert caplog.text.count("Traceback") == 1  # only at DEBUG
