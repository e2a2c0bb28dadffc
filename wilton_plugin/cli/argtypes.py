"""argparse types for wiltonctl's numeric flags: a bad value is a usage error that says what is valid
(``argument --timeout: must be a number of seconds > 0, not '-1'``, exit 2), never the name of a
function nor an exception from deep inside a request."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, not {text!r}")
    return value


def share(text: str) -> float:
    """A finite number in [0, 1] (phi, the local share)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # also false for nan
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], not {text!r}")
    return value
