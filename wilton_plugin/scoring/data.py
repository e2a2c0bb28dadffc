"""Labelled routing data: CSV files with the columns ``prompt,local,frontier`` (others ignored).

``local`` and ``frontier`` are the two models' scores for the prompt: 1/0 correctness or a graded
score. Anything else is a ``DataError`` whose message is one line naming the file, the line and
the column, and never the text of a cell (it can be a prompt).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wilton_plugin.errors import WiltonError

REQUIRED = ("prompt", "local", "frontier")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,39}")  # what a header's column name looks like


class DataError(WiltonError, ValueError):
    """A labelled CSV cannot be used: missing file or column, or a score that is not a number."""


@dataclass(frozen=True)
class Row:
    """One labelled prompt."""

    prompt: str
    local: float
    frontier: float
    subject: str = ""  # the group cross-validation holds out whole (``subject`` column, or ``group_column``)


def read_rows(path: str | Path, group_column: str | None = None) -> list[Row]:
    """All rows of one CSV, validated; ``group_column`` (must exist) fills ``Row.subject``."""
    csv.field_size_limit(16 * 1024 * 1024)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # a BOM (spreadsheet exports) is not part of the header
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        rows = []
        try:
            fields = reader.fieldnames or []  # reads the header: a bad byte there is reported like one below
            _check_header(path, fields, group_column)
            for record in reader:
                line = reader.line_num
                rows.append(
                    Row(
                        prompt=record["prompt"] or "",
                        local=_score(path, line, "local", record["local"]),
                        frontier=_score(path, line, "frontier", record["frontier"]),
                        subject=record.get(group_column or "subject") or "",
                    )
                )
        except UnicodeDecodeError as exc:  # text is decoded ahead of the parser: the bad byte is further on
            where = f" after line {reader.line_num}" if reader.line_num else ""
            raise DataError(f"{path}: not valid UTF-8{where} ({exc.reason}, byte 0x{exc.object[exc.start]:02x})") from None
        except csv.Error as exc:
            raise DataError(f"{path} line {reader.line_num}: not a valid CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    return rows


def _check_header(path: str | Path, fields: Sequence[str], group_column: str | None) -> None:
    """``DataError`` unless the header has each required column (and ``group_column``) exactly once."""
    wanted = (*REQUIRED, *([group_column] if group_column else []))
    missing = [name for name in wanted if name not in fields]
    if missing:
        # a file without a header has a row of data there: name its columns only if they look like names
        named = all(_NAME.fullmatch(f) for f in fields)
        has = ", ".join(fields) if named else f"{len(fields)} columns that are not names: is the header row missing?"
        raise DataError(
            f"{path}: missing column {', '.join(repr(m) for m in missing)} "
            f"(has: {has or 'no header'}); expected columns {','.join(REQUIRED)}"
            + (f" and the group column {group_column!r}" if group_column else "")
        )
    twice = [name for name in dict.fromkeys(wanted) if fields.count(name) > 1]
    if twice:
        raise DataError(f"{path}: column {', '.join(repr(t) for t in twice)} appears more than once in the header")


def read_many(paths: Iterable[str | Path], group_column: str | None = None) -> list[Row]:
    """The rows of several CSVs, in order."""
    rows: list[Row] = []
    for path in paths:
        rows.extend(read_rows(path, group_column))
    return rows


def prompts_only(rows: Sequence[Row]) -> list[str]:
    """The prompts, without any label: what a router may see."""
    return [row.prompt for row in rows]


def _score(path: str | Path, line: int, column: str, value: str | None) -> float:
    """The cell as a finite number; ``DataError`` otherwise, which never shows the cell's text (a row
    shifted by a stray comma puts prompt text in the score columns): only its length."""
    if value is None:
        raise DataError(f"{path} line {line}: column '{column}' is missing (the row has fewer cells than the header)")
    try:
        number = float(value)
    except ValueError:
        shown = "is empty" if not value.strip() else f"is not a number (text of {len(value)} characters, not shown)"
        raise DataError(f"{path} line {line}: column '{column}' {shown}; expected a number such as 0, 1 or 0.5") from None
    if not math.isfinite(number):
        raise DataError(f"{path} line {line}: column '{column}' is {number}; expected a finite number")
    return number
