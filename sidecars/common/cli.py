"""What both sidecars' command lines share: environment lookups, argparse types, the flags both
declare (proxy and Prometheus URLs, metrics server, log level), secrets and the log redaction that
keeps them and URL credentials out of every line, logging, stop signals, and starting and stopping
the sidecar's own metrics server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import httpx

from sidecars.common.redact import redact_url_value, redact_urls

TRUE = frozenset({"1", "true", "yes", "on"})

#: a secret's default: a string (then the secret is always a string) or None
Default = TypeVar("Default", bound="str | None")


def env(name: str, default: str | None = None) -> str | None:
    """The variable's value, or ``default`` when unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_flag(name: str) -> bool:
    """True when the variable says 1/true/yes/on."""
    return (os.environ.get(name) or "").strip().lower() in TRUE


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, not {text!r}")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port, 0 meaning off."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 disables), not {text!r}")
    return value


def base_url(env_name: str, *, allow_empty: bool = False, credentials: str | None = None) -> Callable[[str], str]:
    """argparse type: an ``http``/``https`` URL with a host (and a valid port), returned as given.

    ``allow_empty``: the empty string is accepted too (it switches the feature off). ``credentials``: where
    the credentials go instead of the URL, which must then carry none: httpx sends a URL's
    ``user:password@`` as basic auth, which replaces the bearer token of every authenticated call. The
    message names ``env_name``, as argparse also runs a default read from the environment through the type.
    """

    def parse(text: str) -> str:
        if allow_empty and text == "":
            return text
        problem, where = _url_problem(text), ""
        if problem is None and credentials is not None and _has_credentials(text):
            problem = ("it carries USER:PASSWORD@, which httpx would send as basic auth in place of the bearer token: "
                       "every authenticated call would be refused")
            where = f"; without credentials, which go in {credentials}"
        if problem is not None:
            raise argparse.ArgumentTypeError(
                f"not a usable base URL: {redact_url_value(text)!r} ({problem}); expected http(s)://HOST[:PORT][/PATH] "
                f"(flag or env {env_name}){where}")
        return text

    return parse


def _has_credentials(text: str) -> bool:
    """Whether httpx would send basic auth for the URL ``text`` (a user name or a password in it)."""
    url = httpx.URL(text)
    return bool(url.username or url.password)


def _url_problem(text: str) -> str | None:
    """What makes ``text`` unusable as a sidecar's base URL, or None."""
    if any(c.isspace() for c in text):
        return "it contains white space"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        return redact_urls(str(exc))
    if "://" not in text:
        return "no http:// or https://"
    if url.scheme not in ("http", "https"):
        return f"the scheme must be http or https, not {url.scheme!r}"
    if not url.host:
        return "no host"
    if url.port is not None and not 1 <= url.port <= 65535:
        return f"port {url.port} is not in 1-65535"
    return None


def parse_checked(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, then the same ``choices`` check for values that came from the environment
    (argparse checks only the command line's): a bad one is a usage error (exit 2), not a traceback."""
    args = parser.parse_args(argv)
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if action.choices is not None and value is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            parser.error(f"argument {'/'.join(action.option_strings)}: invalid choice from the environment: "
                         f"{value!r} (choose from {choices})")
    return args


def add_log_level(parser: argparse.ArgumentParser, env_name: str) -> None:
    """Add ``--log-level`` (DEBUG, INFO, WARNING or ERROR, any case), read from ``env_name`` by default."""
    parser.add_argument("--log-level", default=env(env_name, "INFO"), choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        type=str.upper, help=f"log level (env {env_name}; default INFO)")


def add_urls(parser: argparse.ArgumentParser, prometheus_when_empty: str, proxy_credentials: str) -> None:
    """Add ``--proxy-url`` and ``--prometheus-url`` (env ``WILTON_PROXY_URL``, ``WILTON_PROMETHEUS_URL``), both
    checked by :func:`base_url` (a bad one, from the flag or the environment, is a usage error: exit 2).

    The proxy URL may not carry credentials (``proxy_credentials`` says where they go instead); the Prometheus
    URL may, for a Prometheus behind basic auth.
    """
    parser.add_argument("--proxy-url", default=env("WILTON_PROXY_URL", "http://127.0.0.1:4000"),
                        type=base_url("WILTON_PROXY_URL", credentials=proxy_credentials), metavar="URL",
                        help="the proxy's base URL, without credentials "
                        "(env WILTON_PROXY_URL; default http://127.0.0.1:4000)")
    parser.add_argument("--prometheus-url", default=env("WILTON_PROMETHEUS_URL", "http://127.0.0.1:9090"),
                        type=base_url("WILTON_PROMETHEUS_URL", allow_empty=True), metavar="URL",
                        help="Prometheus base URL, USER:PASSWORD@ allowed (basic auth); "
                        f"empty: {prometheus_when_empty} "
                        "(env WILTON_PROMETHEUS_URL; default http://127.0.0.1:9090)")


def add_metrics_flags(parser: argparse.ArgumentParser, env_prefix: str, default_port: str, port_note: str = "") -> None:
    """Add ``--metrics-port`` and ``--metrics-addr`` for :func:`serve_metrics` (env ``{env_prefix}_METRICS_*``)."""
    parser.add_argument("--metrics-port", type=port, default=env(f"{env_prefix}_METRICS_PORT", default_port),
                        help=f"port of the sidecar's own /metrics; 0 disables{port_note} "
                        f"(env {env_prefix}_METRICS_PORT; default {default_port})")
    parser.add_argument("--metrics-addr", default=env(f"{env_prefix}_METRICS_ADDR", "127.0.0.1"),
                        help=f"address of the sidecar's /metrics (env {env_prefix}_METRICS_ADDR; default 127.0.0.1)")


def resolve_secret(
    flag_value: str | None, flag_file: str | None, env_name: str, default: Default
) -> tuple[str | Default, str]:
    """(value, source) with the precedence flag file > flag > ``{env_name}_FILE`` > ``env_name`` > default.

    The source is ``file PATH``, ``command line``, ``env_name`` or ``default``, never the value.
    OSError when the file cannot be read.
    """
    path = flag_file
    if path is None and flag_value is None:
        path = env(f"{env_name}_FILE")
    if path is not None and (flag_file is not None or flag_value is None):
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip("\r\n"), f"file {path}"
    if flag_value is not None:
        return flag_value, "command line"
    value = env(env_name)
    if value is not None:
        return value, env_name
    return default, "default"


def redactable(value: str | None, source: str) -> str | None:
    """The secret to keep out of the logs: ``value``, unless it is the published default (``source``
    from :func:`resolve_secret`), which redacting would only turn every "wilton" of the log into "***"."""
    return None if source == "default" else value


class Redact(logging.Filter):
    """No log line ever carries a secret or a URL's credentials, whatever formats it: neither its message
    nor its traceback (secrets under 3 characters are not looked for; URLs by :func:`redact_urls`)."""

    def __init__(self, secrets: Iterable[str | None]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 3]

    def clean(self, text: str) -> str:
        """``text`` with its URLs redacted and each secret replaced with ``***``."""
        text = redact_urls(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Clean the formatted message, the traceback and the stack of the record; every record is kept."""
        message = record.getMessage()
        clean = self.clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # formatted here, as the handler's formatter would, so the traceback is cleaned too (formatters
            # reuse exc_text)
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


def setup_logging(level: str, secrets: Iterable[str | None], quiet: Sequence[str]) -> None:
    """Log to stderr at ``level`` with ``secrets`` redacted; the ``quiet`` loggers only from WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def stop_on_signals(log: logging.Logger) -> threading.Event:
    """An event set by SIGTERM or SIGINT, so the loop's interruptible sleep ends and it exits cleanly."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return stop


def serve_metrics(metrics: Any, port_number: int, addr: str, once: bool, log: logging.Logger) -> tuple[bool, Any]:
    """Start the sidecar's metrics server unless disabled or ``--once``; (ok, server or None)."""
    if not port_number or once:
        return True, None
    try:
        server = metrics.serve(port_number, addr)
    except OSError as exc:
        log.error("cannot serve metrics on %s:%s: %s", addr, port_number, exc.strerror)
        return False, None
    log.info("metrics on http://%s:%s/metrics", addr, port_number)
    return True, server


def stop_metrics_server(server: Any) -> None:
    """Shut down and close a server that :func:`serve_metrics` started; None: nothing to stop."""
    if server is not None:
        server.shutdown()
        server.server_close()
