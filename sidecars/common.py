"""What both sidecars' command lines share: environment lookups, argparse types, stop signals,
and starting the sidecar's own metrics server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any

TRUE = frozenset({"1", "true", "yes", "on"})


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
