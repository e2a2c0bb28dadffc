"""``docs/cli.md`` is generated from the parsers' help and must match what they say now."""

from __future__ import annotations

from pathlib import Path

from wilton_plugin.cli.docs import DEFAULT_OUT, render


def test_the_committed_reference_is_what_the_parsers_say():
    assert DEFAULT_OUT == Path("docs/cli.md").resolve()
    assert DEFAULT_OUT.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: regenerate it with `python -m wilton_plugin.cli.docs`")


def test_the_reference_covers_every_command():
    text = render()
    for title in ("wiltonctl hpc schedule-task", "wiltonctl status", "wiltonctl target set", "wiltonctl weights show",
                  "wiltonctl weights set", "wiltonctl doctor", "wiltonctl validate-config"):
        assert f"## `{title}`" in text
