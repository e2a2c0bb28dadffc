"""Features of free-form (not multiple-choice) prompts, tuned on maths word problems.

What makes a word problem gain from a stronger model is the length of its chain of
relations between quantities: more sentences and clauses, comparisons ("twice as", "more
than"), fractions and remainders, ordinal periods ("the second week"), ages; simple rates,
cents and single-digit problems gain less. Only vocabulary that describes the *structure* of a
problem is used, never its topic. Content is read from the first ``WINDOW`` characters (one
``str.translate`` and ``split``, a ``Counter``, a few ``str.count``), so the cost stays flat.
"""

from __future__ import annotations

import re

from collections import Counter
from math import log1p

VERSION = "wordproblem-1"  # bump when a feature changes: artifacts record it
WINDOW = 1500

_KEEP = "0123456789abcdefghijklmnopqrstuvwxyz$.,/%"
_TRANSLATE = {i: " " for i in range(128) if chr(i) not in _KEEP}
_NOT_KEPT = re.compile("[" + "".join(re.escape(chr(i)) for i in _TRANSLATE) + "]")  # the same, as a regex
_DIGITS = frozenset("0123456789")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NUMBER_WORDS = _words("one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
                       "fifty hundred thousand million dozen dozens pair pairs")
_MULTIPLIERS = _words("twice double doubles doubled triple tripled thrice half halves third thirds quarter quarters "
                      "fourth fifth fifths tenth times quadruple")
_COMPARATIVES = _words("more less fewer longer shorter older younger taller cheaper faster slower heavier lighter "
                       "bigger smaller greater than")
_TEMPORAL = _words("after then before later remaining remainder rest left leftover initially originally first next "
                   "finally until while during again")
_STEP_WORDS = _words("twice half times each per every remaining rest total double triple third quarter fifth "
                     "discount tax tip profit average split share divided evenly percent")
_RELATION_WORDS = _words("remaining remainder half third quarter fourth fifth")
_AGE_WORDS = _words("age ages older younger")
_RATE_WORDS = _words("per mph speed")
_MONEY_WORDS = _words("cent cents dollar dollars")
_ORDINALS = _words("first second third fourth fifth last")
_MONEY_QUESTION = ("$", "dollar", "cent", "cost", "spend", "pay", "profit", "earn", "money", "price")
_ORDINAL_PREFIXES = ("first ", "second ", "third ", "fourth ", "fifth ", "last ")
_PERIODS = ("day", "week", "month", "year", "hour", "minute", "time")
_UNIT_KIND = {
    word: kind
    for kind, words in (
        ("time", "second seconds minute minutes hour hours day days week weeks month months year years hr hrs min mins"),
        ("length", "inch inches feet foot yard yards mile miles meter meters centimeters kilometers km cm mph"),
        ("mass", "pound pounds ounce ounces gram grams kilograms kg lb lbs ton tons"),
        ("volume", "gallon gallons liter liters litre litres cup cups quart quarts pint pints ml"),
    )
    for word in words.split()
}

NAMES: tuple[str, ...] = (
    "log_chars", "log_commas", "has_decimal", "log_decimals", "log_money_decimals", "small_numbers",
    "max_digits", "log_max_number", "log_multipliers", "log_comparatives", "log_temporal", "log_quantities",
    "log_money", "unit_kinds", "log_steps", "sentences", "money_question", "log_relations", "ages",
    "ordinal_period", "then", "log_rates", "cents",
)
DIM = len(NAMES)


def _count(counts: Counter[str], vocabulary: frozenset[str]) -> int:
    return sum(counts[w] for w in vocabulary if w in counts)


Tokens = tuple[list[str], list[str]]


def tokens(text: str) -> Tokens:
    """The words and the numbers (digits, optionally after "$") of the prompt's head, lower-cased."""
    words: list[str] = []
    numbers: list[str] = []
    head = text[:WINDOW].lower()
    # str.translate is fast on ASCII only; the same mapping by regex is ~3x faster on other scripts
    for token in (head.translate(_TRANSLATE) if head.isascii() else _NOT_KEPT.sub(" ", head)).split():
        first = token[0]
        if first in _DIGITS or (first == "$" and len(token) > 1 and token[1] in _DIGITS):
            numbers.append(token)
        else:
            word = token.strip(".,/%$")
            if word:
                words.append(word)
    return words, numbers


def quantities(parsed: Tokens) -> int:
    """How many quantities the prompt states: numbers, number words ("three", "dozen") and multipliers."""
    words, numbers = parsed
    return len(numbers) + sum(1 for w in words if w in _NUMBER_WORDS or w in _MULTIPLIERS)


def features(text: str, parsed: Tokens | None = None) -> list[float]:
    """The feature vector of one prompt (length ``DIM``); ``parsed``: its ``tokens`` if already known."""
    low = text[:WINDOW].lower()
    words, numbers = parsed if parsed is not None else tokens(text)
    decimals = money_decimals = max_digits = 0
    max_value = 0.0
    distinct: set[str] = set()
    for token in numbers:
        plain = token.strip("$.,/%").replace(",", "")
        if "/" in plain:
            plain = plain.split("/")[0]
        distinct.add(plain)
        integer, _, fraction = plain.partition(".")
        if fraction[:1] in _DIGITS:
            decimals += 1
            if token[0] == "$" and len(fraction) == 2:
                money_decimals += 1
        max_digits = max(max_digits, len(integer))
        try:
            max_value = max(max_value, float(plain))
        except ValueError:
            continue
    counts = Counter(words)
    multipliers = _count(counts, _MULTIPLIERS)
    kinds = {_UNIT_KIND[w] for w in counts if w in _UNIT_KIND}
    money = _count(counts, _MONEY_WORDS) + low.count("$")
    if money:
        kinds.add("money")
    mark = low.rfind("?")
    question = low[max(low.rfind(".", 0, mark), low.rfind("!", 0, mark)) + 1:mark] if mark >= 0 else low[-200:]
    sentences = low.count(". ") + low.count("? ") + low.count("! ") + 1
    relations = (_count(counts, _RELATION_WORDS) + low.count("times as") + low.count("twice as")
                 + low.count("half as") + low.count(" than ") + low.count("rest of")
                 + sum(1 for token in numbers if "/" in token))
    return [
        log1p(len(text)),
        log1p(text.count(",")),
        1.0 if decimals else 0.0,
        log1p(decimals),
        log1p(money_decimals),
        1.0 if max_digits <= 1 else 0.0,
        float(min(max_digits, 7)),
        log1p(min(max_value, 1e9)),
        log1p(multipliers),
        log1p(_count(counts, _COMPARATIVES)),
        log1p(_count(counts, _TEMPORAL)),
        log1p(len(numbers) + _count(counts, _NUMBER_WORDS) + multipliers),
        log1p(money),
        float(len(kinds)),
        log1p(_count(counts, _STEP_WORDS) + len(distinct)),
        float(min(sentences, 20)),
        1.0 if any(k in question for k in _MONEY_QUESTION) else 0.0,
        log1p(relations),
        1.0 if (not _AGE_WORDS.isdisjoint(counts) or "years old" in low) else 0.0,
        1.0 if not _ORDINALS.isdisjoint(counts) and _ordinal_period(low) else 0.0,
        1.0 if "then" in counts else 0.0,
        log1p(_count(counts, _RATE_WORDS) + low.count("an hour") + low.count("km/h")),
        1.0 if ("cent" in counts or "cents" in counts) else 0.0,
    ]


def _ordinal_period(low: str) -> bool:
    """Whether an ordinal is followed by a period of time ("the second week")."""
    for prefix in _ORDINAL_PREFIXES:
        i = low.find(prefix)
        while i >= 0:
            if low.startswith(_PERIODS, i + len(prefix)):
                return True
            i = low.find(prefix, i + 1)
    return False
