"""argparse types for wiltonctl's numeric flags: a bad value is a usage error that says what is valid
(``argument --timeout: must be a number of seconds > 0, not '-1'``, exit 2), never the name of a
function nor an exception from deep inside a request."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _checked(text: str, parse: Callable[[str], T], valid: Callable[[T], bool], expected: str) -> T:
    """``parse(text)`` if it parses and is ``valid``, else the usage error naming what is expected."""
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"must be {expected}, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _checked(text, int, lambda v: v >= 1, "a whole number >= 1")


def seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    return _checked(text, float, lambda v: v > 0 and math.isfinite(v), "a number of seconds > 0")


def share(text: str) -> float:
    """A finite number in [0, 1] (phi, the local share)."""
    return _checked(text, float, lambda v: 0 <= v <= 1, "a number in [0, 1]")  # false for nan
