"""``wilton-coherence``: command line, environment, signals, logging, metrics server.

Every flag has an environment variable (the flag wins). The password is read, in this order, from
``--password-file``, ``--password``, ``WILTON_COHERENCE_PASSWORD_FILE``,
``WILTON_COHERENCE_PASSWORD``, else the development default ``wilton``. It is never logged; given
on the command line it draws a warning (it is visible in the process list).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import httpx

from sidecars.common.cli import add_log_level, add_metrics_flags, add_urls, env, env_flag, non_negative, parse_checked
from sidecars.common.cli import positive, redactable
from sidecars.common.cli import resolve_secret, serve_metrics, setup_logging, stop_metrics_server, stop_on_signals
from sidecars.common.redact import redact_urls, url_passwords

from sidecars.coherence.clients import PHI_QUERIES, AdminClient, PrometheusReader
from sidecars.coherence.controller import ControllerSettings
from sidecars.coherence.loop import CoherenceLoop
from sidecars.coherence.metrics import CoherenceMetrics

log = logging.getLogger("wilton.coherence")

DEFAULT_PHI_QUERY = "wilton:phi:ratio_rate5m"  # the proxy's default unit (requests); see PHI_QUERIES
DEFAULT_PASSWORD = "wilton"


def _unit(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text!r}")
    return value


def _bias_limit(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5], not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wilton-coherence",
        description="Keep the global φ (local share over all proxy replicas) on target by adjusting "
        "the proxy's phi_bias through Wilton's admin API. Every flag also reads an environment variable.",
    )
    add = p.add_argument
    add("--interval", type=positive, default=env("WILTON_COHERENCE_INTERVAL", "10"), metavar="SECONDS",
        help="control interval (env WILTON_COHERENCE_INTERVAL; default 10)")
    add("--phi-target", type=_unit, default=env("WILTON_COHERENCE_PHI_TARGET", "0.75"),
        help="global φ to hold (env WILTON_COHERENCE_PHI_TARGET; default 0.75)")
    add("--username", default=env("WILTON_COHERENCE_USERNAME", "admin"),
        help="admin API user (env WILTON_COHERENCE_USERNAME; default admin)")
    add("--password", default=None,
        help="admin API password; visible in the process list, prefer WILTON_COHERENCE_PASSWORD or "
        "--password-file (default: the development password 'wilton')")
    add("--password-file", default=None, metavar="PATH",
        help="read the password from this file (env WILTON_COHERENCE_PASSWORD_FILE)")
    add_urls(p, prometheus_when_empty="use the proxy's /wilton/status only",
             proxy_credentials="--username and WILTON_COHERENCE_PASSWORD or --password-file")
    add("--phi-query", default=env("WILTON_COHERENCE_PHI_QUERY"),
        help="PromQL giving the global φ as one series (env WILTON_COHERENCE_PHI_QUERY; default: the recorded "
        f"φ of the unit the proxy's /wilton/status reports, {PHI_QUERIES['requests']} for requests, "
        f"{PHI_QUERIES['tokens']} for tokens)")
    add("--dry-run", action="store_true", default=env_flag("WILTON_COHERENCE_DRY_RUN"),
        help="compute and log corrections, never PUT them (env WILTON_COHERENCE_DRY_RUN=1)")
    add("--once", action="store_true", default=env_flag("WILTON_COHERENCE_ONCE"),
        help="run one iteration; exit 0 on success, 1 on failure (env WILTON_COHERENCE_ONCE=1)")
    add_metrics_flags(p, "WILTON_COHERENCE", default_port="9464")
    add("--kp", type=non_negative, default=env("WILTON_COHERENCE_KP", "0.3"),
        help="proportional gain (env WILTON_COHERENCE_KP; default 0.3)")
    add("--ki", type=non_negative, default=env("WILTON_COHERENCE_KI", "0.02"),
        help="integral gain per second (env WILTON_COHERENCE_KI; default 0.02)")
    add("--dead-band", type=non_negative, default=env("WILTON_COHERENCE_DEAD_BAND", "0.005"),
        help="no correction while |target - φ| is within this (env WILTON_COHERENCE_DEAD_BAND; default 0.005)")
    add("--max-step", type=positive, default=env("WILTON_COHERENCE_MAX_STEP", "0.02"),
        help="largest bias change per interval (env WILTON_COHERENCE_MAX_STEP; default 0.02)")
    add("--max-bias", type=_bias_limit, default=env("WILTON_COHERENCE_MAX_BIAS", "0.25"),
        help="bias is kept in [-MAX_BIAS, MAX_BIAS] (env WILTON_COHERENCE_MAX_BIAS; default 0.25)")
    add("--stale-after", type=positive, default=env("WILTON_COHERENCE_STALE_AFTER"), metavar="SECONDS",
        help="freeze when φ is older than this (env WILTON_COHERENCE_STALE_AFTER; default two intervals)")
    add("--max-backoff", type=positive, default=env("WILTON_COHERENCE_MAX_BACKOFF", "60"), metavar="SECONDS",
        help="cap of the exponential backoff after errors (env WILTON_COHERENCE_MAX_BACKOFF; default 60)")
    add("--timeout", type=positive, default=env("WILTON_COHERENCE_TIMEOUT", "5"), metavar="SECONDS",
        help="HTTP timeout (env WILTON_COHERENCE_TIMEOUT; default 5)")
    add_log_level(p, "WILTON_COHERENCE_LOG_LEVEL")
    return p


def resolve_password(args: argparse.Namespace) -> tuple[str, str]:
    """The password and where it came from (never the password itself in the second item)."""
    return resolve_secret(args.password, args.password_file, "WILTON_COHERENCE_PASSWORD", DEFAULT_PASSWORD)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_checked(parser, argv)
    try:
        password, password_source = resolve_password(args)
    except OSError as exc:
        parser.error(f"cannot read the password file: {exc.strerror}")
    if not password:
        parser.error("the password is empty")

    # httpx and httpcore log a request line every interval; never needed
    secrets = [redactable(password, password_source), *url_passwords(args.proxy_url, args.prometheus_url)]
    setup_logging(args.log_level, secrets, quiet=("httpx", "httpcore"))

    if password_source == "command line":
        log.warning("the password was given with --password and is visible in the process list; "
                    "use WILTON_COHERENCE_PASSWORD or --password-file instead")
    elif password_source == "default":
        log.warning("using the development default password; set WILTON_COHERENCE_PASSWORD or --password-file")

    try:
        settings = ControllerSettings(
            target=args.phi_target, kp=args.kp, ki=args.ki, dead_band=args.dead_band, max_step=args.max_step,
            bias_min=-args.max_bias, bias_max=args.max_bias, interval=args.interval, stale_after=args.stale_after,
        )
    except ValueError as exc:
        parser.error(str(exc))

    stop = stop_on_signals(log)

    metrics = CoherenceMetrics()
    ok, server = serve_metrics(metrics, args.metrics_port, args.metrics_addr, args.once, log)
    if not ok:
        return 1

    with httpx.Client(timeout=args.timeout) as client:
        admin = AdminClient(args.proxy_url, args.username, password, client)
        prometheus = PrometheusReader(args.prometheus_url, args.phi_query or None, client) if args.prometheus_url else None
        loop = CoherenceLoop(settings, admin, prometheus, metrics, dry_run=args.dry_run, max_backoff=args.max_backoff)
        log.info(
            "wilton-coherence: target φ=%.4f every %.1f s; proxy %s; prometheus %s (%s); user %s; %s",
            settings.target, settings.interval, redact_urls(args.proxy_url), redact_urls(args.prometheus_url) or "off",
            args.phi_query or " or ".join(PHI_QUERIES.values()) + " by the proxy's unit", args.username, "dry run" if args.dry_run else "applying corrections",
        )
        try:
            code = loop.run(stop, once=args.once)
        finally:
            stop_metrics_server(server)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
