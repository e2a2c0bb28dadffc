"""``wiltonctl`` entry point: argument parsing, dispatch, and errors as one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from wilton_plugin.errors import WiltonError

EXIT_USAGE = 2
EXIT_ERROR = 1

# Modules that add subcommands: each has ``register(subparsers) -> None`` and sets ``func`` on its parsers.
COMMAND_MODULES: tuple[str, ...] = ("wilton_plugin.cli.config_cmd", "wilton_plugin.cli.quality_cmd",
                                    "wilton_plugin.cli.score_cmd",
                                    "wilton_plugin.cli.tasks_cmd", "wilton_plugin.cli.ops_cmd",
                                    "wilton_plugin.cli.doctor_cmd")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command module's subcommands."""
    import importlib

    parser = argparse.ArgumentParser(prog="wiltonctl", description="Operate Wilton, the φ-balancing LiteLLM plugin.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        register: Callable[[argparse._SubParsersAction], None] = importlib.import_module(name).register
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except WiltonError as exc:
        print(f"wiltonctl: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError) as exc:
        print(f"wiltonctl: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("wiltonctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
