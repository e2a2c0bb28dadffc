"""``wilton-insight``: command line, environment, signals, logging, metrics server.

Every flag has an environment variable (the flag wins). The admin password is read, in this
order, from ``--password-file``, ``--password``, ``WILTON_INSIGHT_PASSWORD_FILE``,
``WILTON_INSIGHT_PASSWORD``, else the development default ``wilton``. The LLM call through the
proxy needs a LiteLLM key: ``--api-key`` or ``WILTON_INSIGHT_API_KEY`` (or ``--api-key-file``).
Neither secret is ever logged or written into a report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from sidecars.common.cli import add_log_level, add_metrics_flags, add_urls, env, env_flag, parse_checked, positive
from sidecars.common.cli import redactable, resolve_secret
from sidecars.common.cli import serve_metrics, setup_logging, stop_metrics_server, stop_on_signals
from sidecars.common.redact import redact_urls, url_passwords

from sidecars.insight.collect import InsightAdminClient, RangeReader
from sidecars.insight.loop import FAILED, InsightJob
from sidecars.insight.metrics import InsightMetrics

log = logging.getLogger("wilton.insight")

DEFAULT_PASSWORD = "wilton"
EPILOG = (
    "exit status: 0 report written from every source; 3 report written but a source (Prometheus or the "
    "decision log) was unavailable, the report says which; 1 nothing could be collected, the report could "
    "not be written, or the metrics port is taken; 2 bad flags. Without --once: 0 when stopped by SIGTERM/SIGINT."
)


def _tasks(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be a whole number in [0, 10000], not {text!r}")
    return value


def _band(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wilton-insight",
        description="Analyse φ, latency, cost and routing over the last hours (Prometheus and the proxy's decision "
        "log), ask an LLM through the proxy for recommendations, and write a Markdown + JSON report with PNG charts. "
        "Every flag also reads an environment variable.",
        epilog=EPILOG,
    )
    add = p.add_argument
    add("--interval", type=positive, default=env("WILTON_INSIGHT_INTERVAL", "3600"), metavar="SECONDS",
        help="seconds between runs (env WILTON_INSIGHT_INTERVAL; default 3600)")
    add("--model", choices=["openai", "gemini"], default=env("WILTON_INSIGHT_MODEL", "openai"),
        help="which LLM to ask, through the proxy (env WILTON_INSIGHT_MODEL; default openai)")
    add("--model-group-openai", default=env("WILTON_INSIGHT_MODEL_GROUP_OPENAI", "chat"), metavar="GROUP",
        help="proxy model group used for --model openai (env WILTON_INSIGHT_MODEL_GROUP_OPENAI; default chat)")
    add("--model-group-gemini", default=env("WILTON_INSIGHT_MODEL_GROUP_GEMINI", "chat"), metavar="GROUP",
        help="proxy model group used for --model gemini (env WILTON_INSIGHT_MODEL_GROUP_GEMINI; default chat)")
    add("--max-tasks", type=_tasks, default=env("WILTON_INSIGHT_MAX_TASKS", "1000"), metavar="N",
        help="recent routing decisions analysed, from GET /wilton/decisions; 0 skips the decision log "
        "(env WILTON_INSIGHT_MAX_TASKS; default 1000, at most 10000)")
    add("--history", type=positive, default=env("WILTON_INSIGHT_HISTORY", "24"), metavar="HOURS",
        help="hours of history analysed, fractions allowed (env WILTON_INSIGHT_HISTORY; default 24)")
    add("--phi-band", type=_band, default=env("WILTON_INSIGHT_PHI_BAND", "0.05"),
        help="φ is out of band when further than this from the target (env WILTON_INSIGHT_PHI_BAND; default 0.05, "
        "as the WiltonPhiOutOfBand alert)")
    add_urls(p, prometheus_when_empty="no φ history, counts or latency",
             proxy_credentials="--username and WILTON_INSIGHT_PASSWORD or --password-file (admin API) and "
             "WILTON_INSIGHT_API_KEY or --api-key-file (the LLM call)")
    add("--out", default=env("WILTON_INSIGHT_OUT", "reports"), metavar="DIR",
        help="directory of the reports (env WILTON_INSIGHT_OUT; default reports/)")
    add("--once", action="store_true", default=env_flag("WILTON_INSIGHT_ONCE"),
        help="one run, then exit with its status (env WILTON_INSIGHT_ONCE=1)")
    add("--username", default=env("WILTON_INSIGHT_USERNAME", "admin"),
        help="admin API user, needs wilton:read (env WILTON_INSIGHT_USERNAME; default admin)")
    add("--password", default=None,
        help="admin API password; visible in the process list, prefer WILTON_INSIGHT_PASSWORD or --password-file "
        "(default: the development password 'wilton')")
    add("--password-file", default=None, metavar="PATH",
        help="read the admin password from this file (env WILTON_INSIGHT_PASSWORD_FILE)")
    add("--api-key", default=None,
        help="LiteLLM key for the LLM call through the proxy; visible in the process list, prefer "
        "WILTON_INSIGHT_API_KEY or --api-key-file. Without a key the report has no recommendations")
    add("--api-key-file", default=None, metavar="PATH",
        help="read the LiteLLM key from this file (env WILTON_INSIGHT_API_KEY_FILE)")
    add_metrics_flags(p, "WILTON_INSIGHT", default_port="9465", port_note="; not served with --once")
    add("--timeout", type=positive, default=env("WILTON_INSIGHT_TIMEOUT", "10"), metavar="SECONDS",
        help="HTTP timeout for Prometheus and the admin API (env WILTON_INSIGHT_TIMEOUT; default 10)")
    add("--llm-timeout", type=positive, default=env("WILTON_INSIGHT_LLM_TIMEOUT", "120"), metavar="SECONDS",
        help="timeout of the LLM call (env WILTON_INSIGHT_LLM_TIMEOUT; default 120)")
    add_log_level(p, "WILTON_INSIGHT_LOG_LEVEL")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_checked(parser, argv)
    try:
        password, password_source = resolve_secret(args.password, args.password_file, "WILTON_INSIGHT_PASSWORD",
                                                   DEFAULT_PASSWORD)
        api_key, key_source = resolve_secret(args.api_key, args.api_key_file, "WILTON_INSIGHT_API_KEY", None)
    except OSError as exc:
        parser.error(f"cannot read a secret file: {exc.strerror}")
    if not password:
        parser.error("the password is empty")

    url_secrets = url_passwords(args.proxy_url, args.prometheus_url)
    secrets = [redactable(password, password_source), api_key, *url_secrets]
    setup_logging(args.log_level, secrets, quiet=("httpx", "httpcore", "matplotlib", "PIL"))
    for source, what, variable in ((password_source, "password", "WILTON_INSIGHT_PASSWORD"),
                                   (key_source, "API key", "WILTON_INSIGHT_API_KEY")):
        if source == "command line":
            log.warning("the %s was given on the command line and is visible in the process list; use %s or a file",
                        what, variable)
    if password_source == "default":
        log.warning("using the development default password; set WILTON_INSIGHT_PASSWORD or --password-file")

    stop = stop_on_signals(log)

    metrics = InsightMetrics()
    ok, server = serve_metrics(metrics, args.metrics_port, args.metrics_addr, args.once, log)
    if not ok:
        return FAILED

    model_group = args.model_group_openai if args.model == "openai" else args.model_group_gemini
    with httpx.Client(timeout=args.timeout) as client:
        job = InsightJob(
            client=client,
            reader=RangeReader(args.prometheus_url, client) if args.prometheus_url else None,
            admin=InsightAdminClient(args.proxy_url, args.username, password, client),
            proxy_url=args.proxy_url,
            api_key=api_key,
            model_group=model_group,
            out=Path(args.out),
            hours=args.history,
            max_tasks=args.max_tasks,
            band=args.phi_band,
            llm_timeout=args.llm_timeout,
            secrets=tuple(s for s in (password, api_key, *url_secrets) if s),
            metrics=metrics,
        )
        log.info("wilton-insight: every %.0f s, %g h of history, %d decisions; proxy %s; prometheus %s; "
                 "LLM %s (model group %s); reports in %s", args.interval, args.history, args.max_tasks,
                 redact_urls(args.proxy_url), redact_urls(args.prometheus_url) or "off", args.model, model_group, args.out)
        try:
            return job.run(stop, args.interval, once=args.once)
        finally:
            stop_metrics_server(server)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
