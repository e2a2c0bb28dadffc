"""Generate ``docs/cli.md`` from the parsers' own help: ``python -m wilton_plugin.cli.docs [--check]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
WIDTH = "100"
HEADER = """# `wiltonctl` reference

Generated from the commands' `--help` by `python -m wilton_plugin.cli.docs`; do not edit by hand
(`tests/test_cli_docs.py` fails when this file is stale). Errors are one line on stderr and a
non-zero exit status.
"""


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*path, name))


def render() -> str:
    """The whole reference as Markdown (fixed width, so it does not depend on the terminal)."""
    from wilton_plugin.cli.main import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        parts = [HEADER]
        for path, sub in _walk(parser, ("wiltonctl",)):
            title = " ".join(path)
            parts.append(f"## `{title}`\n\n```text\n{sub.format_help().rstrip()}\n```\n")
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write the reference, or with ``--check`` exit 1 when the committed file differs."""
    parser = argparse.ArgumentParser(prog="python -m wilton_plugin.cli.docs", description=__doc__)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"where to write (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    text = render()
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is stale; regenerate it with: python -m wilton_plugin.cli.docs", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
