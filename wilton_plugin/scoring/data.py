"""Labelled routing data: CSV files with the columns ``prompt,local,frontier`` (others ignored).

``local`` and ``frontier`` are the two models' scores for the prompt: 1/0 correctness or a graded
score. Anything else is a ``DataError`` whose message is one line naming the file, the line and
the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wilton_plugin.errors import WiltonError

REQUIRED = ("prompt", "local", "frontier")


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
        fields = reader.fieldnames or []
        missing = [name for name in (*REQUIRED, *([group_column] if group_column else [])) if name not in fields]
        if missing:
            raise DataError(
                f"{path}: missing column {', '.join(repr(m) for m in missing)} "
                f"(has: {', '.join(fields) or 'no header'}); expected columns {','.join(REQUIRED)}"
                + (f" and the group column {group_column!r}" if group_column else "")
            )
        rows = []
        try:
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
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path} line {reader.line_num}: not a valid UTF-8 CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    return rows


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
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{path} line {line}: column '{column}' has value {value!r}; expected a number") from None
    if not math.isfinite(number):
        raise DataError(f"{path} line {line}: column '{column}' has value {value!r}; expected a finite number")
    return number
