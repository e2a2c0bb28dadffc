"""Topic-agnostic prompt features for the learned difficulty scorer.

A prompt becomes a fixed-length vector of *structural* facts — lengths, answer-option layout,
numbers and operators, negations, question words, function-word presence — and never of topic
vocabulary: a router trained on some subjects must rank prompts of subjects it has not seen.
Everything is computed with C-level string methods and a few regexes on at most
``SCAN_CHARS`` characters (head and tail), so the cost stays flat for long prompts.
"""

from __future__ import annotations

import math
import re

VERSION = "structural-1"  # bump when a feature changes: artifacts record it
SCAN_HEAD = 1500  # characters looked at from the start of the prompt ...
SCAN_TAIL = 500  # ... and from its end (options and the question are usually there)
CHOICE_TAIL = 2000  # characters searched, from the end, for answer options

_OPTION = re.compile(r"(?m)^[ \t]*\(?([A-Ja-j])[.)][ \t]?(.*)$")
_CHOICE_MARKS = tuple(tuple(f"\n{before}{letter}{after}" for before, after in (("", "."), ("", ")"), ("(", ")")))
                      for letter in "ABCD")
# bytes.translate maps: digits -> "0", "."/"," -> "." and the rest -> " " (numbers are then the
# whitespace-separated runs); lower-case letters kept, the rest -> " " (words).
_DIGIT_MAP = bytes(48 if 48 <= c <= 57 else 46 if c in (44, 46) else 32 for c in range(256))
_LETTER_MAP = bytes(c if 97 <= c <= 122 else 32 for c in range(256))
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_DIGITS = b"0123456789"
_UPPER = bytes(range(65, 91))
_OPERATORS = "=+*/^<>"

# Words whose presence says something about the *kind* of question, not its topic.
VOCAB: tuple[str, ...] = (
    # question forms
    "which", "what", "how", "why", "when", "where", "who", "whom", "whose",
    "many", "much", "most", "least", "best", "likely", "following", "true", "false", "correct",
    "incorrect", "not", "except", "never", "always", "only", "all", "none", "both", "neither",
    "each", "every", "per", "total", "average", "percent", "twice", "half", "times", "more", "less",
    "than", "if", "then", "suppose", "assume", "given", "let", "find", "calculate", "compute",
    "solve", "determine", "evaluate", "estimate", "approximately", "value", "number", "equal",
    "statement", "statements", "argument", "conclusion", "premise", "because", "therefore",
    "however", "although", "would", "should", "could", "might", "must", "can", "will", "did",
    "does", "was", "were", "is", "are", "be", "been", "has", "had", "have", "the", "a", "an", "of",
    "in", "on", "at", "to", "for", "with", "by", "from", "as", "and", "or", "but", "that", "this",
    "these", "those", "it", "its", "they", "their", "he", "she", "his", "her", "we", "you", "i",
    "me", "my", "our", "your", "there", "here", "one", "two", "three", "four", "five", "first",
    "second", "third", "last", "new", "old", "same", "different", "increase", "decrease",
    "remaining", "left", "rest", "after", "before", "during", "while", "until", "since", "into",
    "out", "over", "under", "between", "among", "about", "above", "below", "up", "down", "so",
    "such", "any", "some", "no", "other", "another", "own", "also", "very", "just", "still",
    "answer", "question", "example", "described", "scenario", "situation",
    "primarily", "mainly", "main", "primary", "important", "significant", "relationship",
    "effect", "cause", "result", "reason", "purpose", "function", "type", "kind", "term",
    "define", "definition", "refers", "known", "called", "example", "function", "probability",
    "expected", "rate", "ratio", "proportion", "sum", "difference", "product", "minimum",
    "maximum", "greater", "smaller", "larger", "cost", "costs", "price", "buy", "sell", "pay",
    "earn", "save", "spend", "hours", "minutes", "days", "weeks", "years", "month", "dollars",
)
_VOCAB_INDEX = {word: i for i, word in enumerate(dict.fromkeys(VOCAB))}
VOCAB_WORDS = tuple(_VOCAB_INDEX)
_VOCAB_SET = frozenset(w.encode() for w in VOCAB_WORDS)

DENSE_NAMES: tuple[str, ...] = (
    "log_chars", "log_words", "log_lines", "log_stem_chars", "n_options", "log_option_mean",
    "log_option_max", "option_len_cv", "option_numeric_share", "option_words_mean",
    "digit_frac", "log_numbers", "log_decimals", "log_operators", "log_percent", "log_dollar",
    "log_questions", "log_sentences", "words_per_sentence", "mean_word_len", "long_word_share",
    "uppers_per_word", "log_parens", "log_quotes", "log_colons", "log_semicolons", "log_backslash",
    "log_roman", "log_negation_caps", "has_statement_pair", "blank", "options_true_false",
    "options_all_none", "ends_answer", "log_commas", "type_token_ratio",
    "numbers_per_sentence", "numbers_in_stem_share",
)
NAMES: tuple[str, ...] = DENSE_NAMES + tuple(f"w:{w}" for w in VOCAB_WORDS)
DIM = len(NAMES)


def is_multiple_choice(text: str) -> bool:
    """Whether the prompt lists answer options: at least three lines starting "A." .. "D." or "(A)"."""
    tail = "\n" + (text[-CHOICE_TAIL:] if len(text) > CHOICE_TAIL else text)  # options come last
    hits = 0
    for marks in _CHOICE_MARKS:
        if any(mark in tail for mark in marks):
            hits += 1
    return hits >= 3


def _number_count(digit_runs: bytes) -> int:
    return len(digit_runs.replace(b".", b" ").split()) - digit_runs.count(b"0.0")


def _log(x: float) -> float:
    return math.log1p(x)


def features(text: str) -> list[float]:
    """The feature vector of one prompt (length ``DIM``); never raises on odd text."""
    dense, present = parts(text)
    vocab = [0.0] * len(VOCAB_WORDS)
    for word in present:
        vocab[_VOCAB_INDEX[word]] = 1.0
    return dense + vocab


def parts(text: str) -> tuple[list[float], set[str]]:
    """The dense features and the set of ``VOCAB_WORDS`` present (the sparse binary part)."""
    n_chars = len(text)
    if n_chars > SCAN_HEAD + SCAN_TAIL:
        text = text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]
    raw = text.encode("utf-8", "replace")
    lower = text.lower()
    low_raw = lower.encode("utf-8", "replace")
    options = _OPTION.findall(text)
    if len(options) >= 2:
        first = text.find("\n" + options[0][0])
        stem = text[:first] if first > 0 else text
        bodies = [body.strip() for _, body in options]
    else:
        stem, bodies = text, []
    lengths = [len(b) for b in bodies]
    n_words = len(raw.split()) or 1
    tokens = low_raw.translate(_LETTER_MAP).split()
    word_set = set(tokens)
    sentences = len(_SENTENCE.findall(stem)) + 1
    digit_runs = raw.translate(_DIGIT_MAP)
    numbers = _number_count(digit_runs)
    stem_numbers = _number_count(digit_runs[: len(stem.encode("utf-8", "replace"))])
    digits = len(raw) - len(raw.translate(None, _DIGITS))
    uppers = len(raw) - len(raw.translate(None, _UPPER))
    letters_total = sum(map(len, tokens))
    if lengths:
        mean = sum(lengths) / len(lengths)
        var = sum((x - mean) ** 2 for x in lengths) / len(lengths)
        cv = math.sqrt(var) / mean if mean > 0 else 0.0
        numeric = sum(1 for b in bodies if b and (b[0].isdigit() or b[0] in "-$.(")) / len(bodies)
        opt_words = sum(b.count(" ") + 1 for b in bodies) / len(bodies)
        joined = " ".join(bodies).lower()
    else:
        mean = cv = numeric = opt_words = 0.0
        joined = ""
    n_tokens = len(tokens) or 1
    dense = [
        _log(n_chars),
        _log(n_words),
        _log(text.count("\n")),
        _log(len(stem)),
        float(len(options)) / 4.0,
        _log(mean),
        _log(max(lengths) if lengths else 0),
        cv,
        numeric,
        _log(opt_words),
        digits / max(1, len(raw)),
        _log(numbers),
        _log(digit_runs.count(b"0.0")),
        _log(sum(map(text.count, _OPERATORS)) + text.count("\\")),
        _log(text.count("%")),
        _log(text.count("$")),
        _log(text.count("?")),
        _log(sentences),
        _log(len(stem.split()) / sentences),
        letters_total / n_tokens,
        sum(1 for w in tokens if len(w) >= 9) / n_tokens,
        uppers / n_words,
        _log(text.count("(")),
        _log(text.count('"') + text.count("\u201c") + text.count("'")),
        _log(text.count(":")),
        _log(text.count(";")),
        _log(text.count("\\")),
        _log(text.count("II") + text.count(" I ") + text.count("(I)") + text.count("\nI.")),
        _log(text.count("NOT") + text.count("EXCEPT") + text.count("LEAST")),
        1.0 if "statement 1" in lower else 0.0,
        1.0 if "___" in text or b"blank" in word_set else 0.0,
        1.0 if "true, true" in joined or "true, false" in joined else 0.0,
        1.0 if "all of the above" in joined or "none of the above" in joined else 0.0,
        1.0 if lower.rstrip().endswith("answer:") else 0.0,
        _log(text.count(",")),
        len(word_set) / n_tokens,
        numbers / sentences,
        stem_numbers / max(1, numbers),
    ]
    return dense, {w.decode() for w in word_set & _VOCAB_SET}
