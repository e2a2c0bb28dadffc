"""Command line entry point: run one fake upstream with uvicorn."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

import uvicorn

from .app import create_app
from .config import FakeConfig

# CLI flag (without the leading dashes) -> FakeConfig field, with its parser.
CONFIG_FLAGS = {
    "latency-ms": float,
    "latency-jitter-ms": float,
    "error-rate": float,
    "error-status": int,
    "fail-next": int,
    "chunk-delay-ms": float,
    "reply-words": int,
    "seed": int,
    "reply-text": str,
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m wilton_plugin.fakes`."""
    parser = argparse.ArgumentParser(prog="python -m wilton_plugin.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--name", default="fake", help="name shown in replies and the x-fake-upstream header")
    parser.add_argument("--models", default="llama3.1", help="comma-separated model names served")
    defaults = FakeConfig()
    for flag, kind in CONFIG_FLAGS.items():
        field = flag.replace("-", "_")
        parser.add_argument(f"--{flag}", type=kind, default=getattr(defaults, field), help=f"initial {field}")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the CLI, then serve the fake upstream until SIGTERM/SIGINT."""
    parser = build_parser()
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        parser.error("--models needs at least one model name")
    try:
        config = FakeConfig().updated({f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f in CONFIG_FLAGS})
    except ValueError as exc:
        parser.error(str(exc))
    app = create_app(args.name, models, config)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")
    )

    def request_exit(signum: int, frame: FrameType | None) -> None:
        """Ask uvicorn to shut down; also absorbs the signal uvicorn re-raises after a graceful shutdown."""
        server.should_exit = True

    # uvicorn installs its own handlers while serving; ours cover start-up and make the final exit code 0.
    signal.signal(signal.SIGTERM, request_exit)
    signal.signal(signal.SIGINT, request_exit)
    server.run()
