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

VERSION = "structural-3"  # bump when a feature changes: artifacts record it
SCAN_HEAD = 1500  # characters looked at from the start of the prompt ...
SCAN_TAIL = 500  # ... and from its end (options and the question are usually there)
CHOICE_TAIL = 2000  # characters searched, from the end, for answer options
STEM_SCAN = 800  # bytes before the options scanned for the stem's numbers and units

_OPTION = re.compile(r"(?m)^[ \t]*\(?([A-Ja-j])[.)][ \t]?(.*)$")
MAX_OPTION_LINES = 20  # the last ones: two blocks of "A".."J" (the shipped data has at most 5)
_CHOICE_MARKS = tuple(tuple(f"\n{before}{letter}{after}" for before, after in (("", "."), ("", ")"), ("(", ")")))
                      for letter in "ABCD")
# bytes.translate maps: digits -> "0", "."/"," -> "." and the rest -> " " (numbers are then the
# whitespace-separated runs); lower-case letters kept, the rest -> " " (words).
_DIGIT_MAP = bytes(48 if 48 <= c <= 57 else 46 if c in (44, 46) else 32 for c in range(256))
_LETTER_MAP = bytes(c if 97 <= c <= 122 else 32 for c in range(256))
_SENTENCE_MAP = bytes(32 if c in b" \t\n\r\x0b\x0c" else 46 if c in b".!?" else 120 for c in range(256))
_DIGITS = b"0123456789"
_UPPER = bytes(range(65, 91))
_OPERATORS = "=+*/^<>"
_OPERATOR_BYTES = _OPERATORS.encode()
_NOT_PUNCTUATION = bytes(c for c in range(256) if chr(c) not in _OPERATORS + "\\%$?(\"':;,")
# lower-case letters and digits kept, the rest -> " " (option words)
_ALNUM_MAP = bytes(c if 97 <= c <= 122 or 48 <= c <= 57 else 32 for c in range(256))
_ALNUM_LINE_MAP = bytes(c if 97 <= c <= 122 or 48 <= c <= 57 or c == 10 else 32 for c in range(256))
_ROMAN_OPTION = re.compile(r"\b(?:I|II|III|IV|V)\b(?:,| and| only|$)")
# A number with an optional sign, unit or "%". The run after the first digit is possessive (``*+``):
# the tail's language is closed under suffixes, so giving characters of the run back to it never finds
# a match the longest run misses; without it, spaces before a non-numeric end were retried at every
# split by ``\s*$`` (quadratic: 17 ms for one 2,000-character option).
_NUMERIC_OPTION = re.compile(r"[\s$\-\u2212+~\u2248(]*\d[\d.,/\s]*+(?:[%\u00b0]|\w{0,6}\.?)?\s*$")
_NEGATIONS = frozenset(b"not no never none neither nor cannot without false incorrect".split())
# digits -> "0", letters -> "a", "%" kept, the rest -> "." (spaces are deleted): "0a", "0%" are quantities with units
_UNIT_MAP = bytes(48 if 48 <= c <= 57 else 97 if 65 <= c <= 90 or 97 <= c <= 122 else c if c in (32, 37) else 46
                  for c in range(256))
_STOPWORDS = frozenset(b"the a an of to in and or is are be for on by with as that this it its at from".split())
_FORMULA_CHARS = "=^\\/*+<>"
_NO_DIGITS = str.maketrans("", "", "0123456789")

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
    # structural-2: the answer options as a set (how alike they are, what kind) and the question
    "opt_jaccard_max", "opt_jaccard_mean", "opt_jaccard_min", "opt_len_ratio", "opt_formula_share",
    "opt_roman_combo", "opt_all_none", "opt_negation_pair", "stem_option_ratio", "stem_distinct_numbers",
    "compute_chain", "stem_unit_numbers", "question_negations", "opt_same_first_word", "opt_short",
    "log_question_chars", "log_passage_chars", "opt_sentence_share", "opt_all_numeric",
    "opt_numeric_spread", "opt_longest_unique", "opt_both_neither",
)
NAMES: tuple[str, ...] = DENSE_NAMES + tuple(f"w:{w}" for w in VOCAB_WORDS)
DIM = len(NAMES)


# Options run together on one line ("Answer Choices: (A) 12 (B) 15 (C) 18", "Options: A)21 B)21.5 C)22"):
# "(A)" or "A)" after white space or a colon, the letters in order from A, at least three of them, the
# line opening with the first (after a label ending in ":"), and no option ending like a list item
# in a sentence ("steps: (A) wash, (B) dry, (C) fold").
_INLINE_OPTION = re.compile(r"(?:(?<=\s)|(?<=:)|^)(\(?)([A-J])\)[ \t]*(?=\S)")
_LIST_ITEM_ENDS = (",", ";", " and", " or", " then")


def lined_options(text: str) -> str:
    """``text`` with options written on one line put on lines of their own, as the rest of this
    module reads them; any other text is returned as it is."""
    tail = text[-CHOICE_TAIL:] if len(text) > CHOICE_TAIL else text  # options come last
    if "B)" not in tail or "C)" not in tail:
        return text
    lines = text.split("\n")
    changed = False
    for i in range(len(lines) - 1, max(-1, len(lines) - 40), -1):  # options come last
        line = lines[i]
        if "B)" not in line:
            continue
        marks = [m for m in _INLINE_OPTION.finditer(line)]
        letters = "".join(m.group(2) for m in marks)
        if len(marks) < 3 or not "ABCDEFGHIJ".startswith(letters):
            continue
        cut = [m.start() for m in marks]
        label = line[:cut[0]].rstrip()
        options = [line[a:b].rstrip() for a, b in zip(cut, cut[1:] + [len(line)])]
        if (label and not label.endswith(":")) or any(o.endswith(_LIST_ITEM_ENDS) for o in options[:-1]):
            continue
        pieces = [label] + options
        lines[i] = "\n".join(piece for piece in pieces if piece)
        changed = True
    return "\n".join(lines) if changed else text


def is_multiple_choice(text: str) -> bool:
    """Whether the prompt lists answer options: at least three lines starting "A." .. "D." or "(A)"
    (options written on one line count as lines: ``lined_options``)."""
    text = lined_options(text)
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
    text = lined_options(text)
    n_chars = len(text)
    if n_chars > SCAN_HEAD + SCAN_TAIL:
        text = text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]
    raw = text.encode("utf-8", "replace")
    lower = text.lower()
    low_raw = lower.encode("utf-8", "replace")
    matches = list(_OPTION.finditer(text))[-MAX_OPTION_LINES:]  # a long lettered list costs no more than a question
    options = [m.groups() for m in matches]
    if len(options) >= 2:
        first = matches[0].start()  # the first option line: not any earlier line that opens with its letter
        stem = text[:first].removesuffix("\n") if first > 0 else text
        bodies = [body.strip() for _, body in options]
    else:
        stem, bodies = text, []
    lengths = [len(b) for b in bodies]
    letters = low_raw.translate(_LETTER_MAP)
    tokens = letters.split()
    word_set = set(tokens)
    stem_bytes = len(stem) if text.isascii() else len(stem.encode("utf-8", "replace"))
    shape = raw.translate(_SENTENCE_MAP)  # " " whitespace, "." sentence ends, "x" the rest
    n_words = (shape.count(b" x") + shape.count(b" .") + (len(shape) > 0 and not shape.startswith(b" "))) or 1
    shape = shape[:stem_bytes]
    sentences = shape.count(b". ") + shape.endswith(b".") + 1
    stem_words = shape.count(b" x") + shape.count(b" .") + (len(shape) > 0 and not shape.startswith(b" "))
    punct = raw.translate(None, _NOT_PUNCTUATION)  # the few characters counted below, in order
    backslashes = punct.count(b"\\")
    digit_runs = raw.translate(_DIGIT_MAP)
    numbers = _number_count(digit_runs)
    stem_numbers = _number_count(digit_runs[:stem_bytes])
    digits = len(raw) - len(raw.translate(None, _DIGITS))
    uppers = len(raw) - len(raw.translate(None, _UPPER))
    letters_total = len(letters) - letters.count(b" ")
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
        _log(len(punct) - len(punct.translate(None, _OPERATOR_BYTES)) + backslashes),
        _log(punct.count(b"%")),
        _log(punct.count(b"$")),
        _log(punct.count(b"?")),
        _log(sentences),
        _log(stem_words / sentences),
        letters_total / n_tokens,
        len([w for w in tokens if len(w) >= 9]) / n_tokens,
        uppers / n_words,
        _log(punct.count(b"(")),
        _log(punct.count(b'"') + raw.count("\u201c".encode()) + punct.count(b"'")),
        _log(punct.count(b":")),
        _log(punct.count(b";")),
        _log(backslashes),
        _log(text.count("II") + text.count(" I ") + text.count("(I)") + text.count("\nI.")),
        _log(text.count("NOT") + text.count("EXCEPT") + text.count("LEAST")),
        1.0 if "statement 1" in lower else 0.0,
        1.0 if "___" in text or b"blank" in word_set else 0.0,
        1.0 if "true, true" in joined or "true, false" in joined else 0.0,
        1.0 if "all of the above" in joined or "none of the above" in joined else 0.0,
        1.0 if lower.rstrip().endswith("answer:") else 0.0,
        _log(punct.count(b",")),
        len(word_set) / n_tokens,
        numbers / sentences,
        stem_numbers / max(1, numbers),
    ]
    dense += _option_set(text, matches, raw, digit_runs, len(stem), stem_bytes)
    return dense, {w.decode() for w in word_set & _VOCAB_SET}


def _option_number(body: str) -> float | None:
    try:
        return float(body.replace(",", "").strip(" $%.").split()[0])
    except (ValueError, IndexError):
        return None


def _option_set(text: str, matches: list[re.Match[str]], raw: bytes, digit_runs: bytes,
                stem_chars: int, stem_bytes: int) -> list[float]:
    """structural-2 features: the last block of options "A".."J" taken as a set, and the stem before it.

    How alike the options are (word Jaccard between pairs), their kind (numbers, formulas, roman
    numeral combinations, "all/none of the above", "both/neither", a pair differing by a negation)
    and the question sentence (length, negations) against the passage before it. ``digit_runs`` is
    ``text`` through ``_DIGIT_MAP``, ``raw`` its UTF-8 bytes; ``stem_bytes`` is the length in bytes of
    ``text[:stem_chars]`` (reused when the stem found by ``parts`` is the same).
    """
    opts: list[str] = []
    start = len(text)
    for m in reversed(matches):  # the last block: back to its "A"
        opts.append(m.group(2).strip())
        start = m.start()
        if m.group(1) in "Aa":
            break
    n = len(opts)
    if n >= 2:
        opts.reverse()
        joined = "\n".join(opts)
        low = joined.lower()
        lines = low.encode("utf-8", "replace").translate(_ALNUM_LINE_MAP).split(b"\n")
        if len(lines) != n:  # a character that lower-cases to a line break
            lines = [o.lower().encode("utf-8", "replace").translate(_ALNUM_LINE_MAP) for o in opts]
        sets = [frozenset(line.split()) - _STOPWORDS for line in lines]
        total = 0.0
        jmax = 0.0
        jmin = 1.0
        negation_pair = 0.0
        for i in range(n - 1):
            a = sets[i]
            for b in sets[i + 1:]:
                union = len(a | b)
                value = len(a & b) / union if union else 0.0
                total += value
                if value > jmax:
                    jmax = value
                    if value >= 0.5 and (a ^ b) & _NEGATIONS:
                        negation_pair = 1.0
                elif value >= 0.5 and (a ^ b) & _NEGATIONS:
                    negation_pair = 1.0
                if value < jmin:
                    jmin = value
        jmean = total / (n * (n - 1) // 2)
        lengths = sorted(map(len, opts))
        longest = lengths[-1]
        formula = 0.0
        if "(" in joined or any(c in joined for c in _FORMULA_CHARS):
            formula = sum(1 for o in opts if any(c in o for c in _FORMULA_CHARS)
                          or ("(" in o and o.translate(_NO_DIGITS) != o)) / n
        roman = 0.0
        if "II" in joined or "I " in joined or "I," in joined:
            roman = sum(1 for o in opts if _ROMAN_OPTION.search(o)) / n
        all_none = 1.0 if "of the above" in low or "all of these" in low or "none of these" in low else 0.0
        both = 1.0 if ("both " in low and " and " in low) or "neither" in low else 0.0
        firsts = {line.split(b" ", 1)[0] for line in low.encode("utf-8", "replace").split(b"\n")}
        same_first = 1.0 - (len(firsts) - 1) / (n - 1)
        spaces = [o.count(" ") for o in opts]
        short = sum(1 for k in spaces if k <= 1) / n
        sentence = sum(1 for o, k in zip(opts, spaces) if k >= 3 and o.endswith(".")) / n
        numeric = [_option_number(o) for o in opts if _NUMERIC_OPTION.match(o)] if digit_runs.count(b"0") else []
        all_numeric = 1.0 if len(numeric) == n else 0.0
        positive = [v for v in numeric if v is not None and v > 0]
        spread = math.log10(max(positive) / min(positive)) if len(positive) >= 2 else 0.0
        unique = (longest - lengths[-2]) / longest if longest > 0 else 0.0
        ratio = math.log1p(start) - math.log1p(sum(lengths) / n)
        len_ratio = math.log((longest + 1) / (lengths[0] + 1))
    else:
        n, start = 0, len(text)
        jmax = jmean = jmin = len_ratio = formula = roman = all_none = negation_pair = ratio = 0.0
        same_first = short = sentence = all_numeric = spread = unique = both = 0.0
    if start != stem_chars:
        stem_bytes = start if len(raw) == len(text) else len(text[:start].encode("utf-8", "replace"))
    distinct = len(set(digit_runs[max(0, stem_bytes - STEM_SCAN):stem_bytes].replace(b".", b" ").split()))
    chain = 1.0 if distinct >= 2 and n and (all_numeric or formula > 0.5) else 0.0
    units = 0
    if distinct:
        shape = raw[max(0, stem_bytes - STEM_SCAN):stem_bytes].translate(_UNIT_MAP, b" ")
        units = shape.count(b"0a") + shape.count(b"0%")
    tail = text[max(0, start - 400):start].rstrip()  # the question sentence ends the stem
    end = len(tail) - 1
    cut = max(tail.rfind(". ", 0, end), tail.rfind("\n", 0, end), tail.rfind("? ", 0, end))
    question = tail[cut + 1:] if cut >= 0 else tail
    negations = question.count("n't")
    low_q = question[-200:].lower()
    if "no" in low_q or "never" in low_q or "either" in low_q or "without" in low_q or "false" in low_q \
            or "incorrect" in low_q:
        negations += len(_NEGATIONS.intersection(low_q.encode("utf-8", "replace").translate(_ALNUM_MAP).split()))
    return [
        jmax, jmean, jmin, len_ratio, formula, roman, all_none, negation_pair, ratio, _log(distinct),
        chain, _log(units), _log(negations), same_first, short, _log(len(question)), _log(max(0, start - len(question))),
        sentence, all_numeric, spread, unique, both,
    ]
