"""The task prior: what free-form prompts of a kind the training data lacks are likely to gain.

The shipped training data holds exam questions (multiple choice) and maths word problems only, so
weights fitted there say nothing about a request for code, a poem or a summary. For those the
learned scorer uses this prior instead: the request's *category* (writing, role-play, reasoning,
maths, coding, extraction, stem, humanities), read by a classifier over its words (``taskmodel``,
since ``tasks-3``), sets an expected gain of the frontier over the local model, in the unit of the
learned models (a difference of correctness), which the artifact's quantile table then calibrates
like any other prediction. Marker words and symbols (``MARKERS``) still read a coarser *task*
(code, maths, reasoning, extraction, knowledge, role-play, writing, chat, other): one of the
classifier's features, the test for chat (a greeting, a few words without a marker: no gain), for
whether a follow-up sets a task of its own (``continues``), and for whether a question is a word
problem (``asks_for_quantity``).

The gains are set from published per-category comparisons of open and frontier models (e.g.
MT-Bench's per-category scores, RouterBench's per-task results): the frontier's lead is largest
on code, maths and multi-step reasoning, moderate on extraction and knowledge questions, and small
on writing, role-play and chat, where open models are close. They are coarse on purpose; an
operator with labelled traffic of these kinds trains an ``open`` model with ``wiltonctl
train-scorer`` and the prior is no longer used. Longer prompts (more constraints) gain a little
more within a category.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from math import log1p

from wilton_plugin.scoring import taskmodel

VERSION = "tasks-3"

# Expected frontier gain per task (correctness units; MMLU's mean is 0.12 and GSM8K's 0.21).
GAINS: dict[str, float] = {
    "code": 0.22,
    "maths": 0.22,
    "reasoning": 0.18,
    "extraction": 0.08,
    "knowledge": 0.06,
    "other": 0.06,
    "roleplay": 0.03,
    "writing": 0.03,
    "chat": 0.0,
}
# The same per category of the classifier (``taskmodel``), whose probabilities weight them.
CATEGORY_GAINS: dict[str, float] = {
    "coding": GAINS["code"],
    "math": GAINS["maths"],
    "reasoning": GAINS["reasoning"],
    "extraction": GAINS["extraction"],
    "stem": GAINS["knowledge"],
    "humanities": GAINS["knowledge"],
    "roleplay": GAINS["roleplay"],
    "writing": GAINS["writing"],
}
# Ties between tasks go to the earlier one.
ORDER = ("code", "maths", "reasoning", "extraction", "roleplay", "writing", "knowledge", "chat")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MARKERS: dict[str, frozenset[str]] = {
    "code": _words(
        "python java javascript typescript rust golang kotlin php ruby perl scala haskell sql mysql postgres "
        "postgresql sqlite bash powershell html css regex regexp dockerfile kubernetes react django flask numpy "
        "pandas api function functions method struct algorithm algorithms implement implementation compile "
        "compiler debug bug exception recursion recursive array arrays pointer pointers variable variables code "
        "coding program programming script refactor repository endpoint unittest pytest"
    ),
    "maths": _words(
        "equation equations solve integral derivative derivatives polynomial matrix matrices theorem prove "
        "lemma probability probabilities variance sqrt prime primes integer integers factorial logarithm sine "
        "cosine triangle circle radius diameter perimeter vertices geometric sum divisible modulo"
    ),
    "reasoning": _words(
        "puzzle puzzles riddle riddles logic logically deduce deduction infer inference implies imply follows "
        "conclude paradox taller older younger belong odd whereas hypothetically suppose assume step "
        "reasoning liar liars knight knights knave knaves truthful teaser brainteaser trick tricky lateral clue "
        "clues seated seating arrangement cousin nephew niece uncle aunt grandfather grandmother related"
    ),
    "extraction": _words(
        "extract summarize summarise summary classify categorize categorise identify list rewrite paraphrase "
        "translate translation convert format table parse tag label sentiment entities keywords"
    ),
    "roleplay": _words("pretend roleplay role imagine act persona character embody"),
    "writing": _words(
        "write compose draft craft poem poems poetry haiku limerick sonnet story stories essay essays email emails "
        "letter blog post tweet slogan slogans speech lyrics song jingle novel tale headline caption toast invitation "
        "description"
    ),
    "knowledge": _words(
        "explain describe history historical cause causes why difference compare meaning define definition "
        "overview principle principles theory"
    ),
    "chat": _words("hi hello hey thanks thank ok okay cool great bye"),
}
# Code words that (almost) never occur in prose: enough to call a prompt with numbers code.
STRICT_CODE = _words(
    "python java javascript typescript rust golang kotlin php perl scala haskell sql mysql postgresql sqlite bash "
    "powershell html css regex regexp dockerfile django numpy pandas api function functions algorithm algorithms "
    "implement implementation compiler debug recursion recursive array arrays code coding programming script"
)
# Words of formal maths that grade-school word problems (almost) never use.
STRICT_MATHS = _words(
    "probability probabilities prove proof theorem lemma integer integers prime primes polynomial polynomials "
    "equation equations derivative derivatives integral integrals vertices matrix matrices sqrt logarithm "
    "logarithms modulo divisible coordinates factorial"
)
_CODE_SYMBOLS = ("```", "def ", "#include", "=>", "();", "{\n", "</", "\nimport ", "console.", "print(")
_MATHS_SYMBOLS = ("^", "=", "√", "∫", "∑", "≤", "≥", "f(x)", "x²")
SCAN = 1500  # the same head the word tokens come from
INSTRUCTION_WEIGHT = 3  # a marker in the first sentence counts this many times
_LETTERS = re.compile(r"[a-z]+")  # marker words are plain letters
# A word problem is a story told in the third person that ends by asking for a quantity: in so
# many words, or as a question that is not a request for writing, an extraction or a role-play
# (those quote numbers without asking for one). A prompt that opens with an instruction to the
# assistant (write, act as, extract…) or casts it ("You are…", "Let's…", "Here is…") is a request,
# not a word problem, whatever numbers it states.
_QUANTITY_ASK = re.compile(
    r"\b(?:how (?:many|much|long|old|far|fast|often|tall|big|heavy|large)|calculate|compute|find|determine"
    r"|work out|what (?:percent|percentage|fraction|proportion))\b"
)
NOT_PROBLEMS = frozenset({"writing", "roleplay", "extraction"})
REQUEST_OPENERS = _words(
    "write compose draft create generate give help act pretend imagine play roleplay role be extract label list "
    "classify categorize categorise turn convert summarize summarise rewrite paraphrase translate format tell "
    "suggest plan design describe explain discuss compare analyze analyse evaluate let's here here's below"
)
ADDRESS_VERBS = _words("are will should must")  # "You are…", "You will play…": casting, not a story
_FIRST_WORD = re.compile(r"[a-z']+")
ANSWER_FORM = _words("show explain justify give round express answer think let's")
ASK_CHARS = 400  # the ask is looked for in the last sentence of this tail
_STOP = re.compile(r"[.?!] |\n")  # what ends a sentence
INSTRUCTION_SENTENCES = 4
INSTRUCTION_CHARS = 400  # of a sentence that long, its start is the request
# A message made only of these closes or acknowledges ("thanks!", "got it, that's all"): it asks for nothing.
CLOSING = _words(
    "hi hello hey thanks thank you ok okay cool great nice good perfect awesome bye goodbye cheers thx ty np lol "
    "wow got it that s so much very all appreciate appreciated"
)
# Tasks a follow-up can read as without setting one of its own: "why?", "explain it simply", "make it shorter".
CONTINUING = frozenset({"other", "knowledge", "chat"})


def _index(markers: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    """word -> the tasks it marks."""
    index: dict[str, tuple[str, ...]] = {}
    for name, words in markers.items():
        for word in words:
            index[word] = index.get(word, ()) + (name,)
    return index


_WORD_INDEX = _index(MARKERS)


def has_code_syntax(head: str) -> bool:
    """True when the text (its head) contains code: fences, definitions, calls, tags."""
    return any(symbol in head for symbol in _CODE_SYMBOLS)


def has_code(head: str, words: Sequence[str]) -> bool:
    """True when the text contains code, or names a language or a programming task."""
    return has_code_syntax(head) or not STRICT_CODE.isdisjoint(words)


def has_maths_notation(head: str) -> bool:
    """True when the text writes maths symbolically (powers, equations, roots)."""
    return any(symbol in head for symbol in _MATHS_SYMBOLS)


def has_formal_maths(head: str, words: Sequence[str]) -> bool:
    """True when the text writes maths symbolically or in the words of formal maths."""
    return has_maths_notation(head) or not STRICT_MATHS.isdisjoint(words)


def asks_for_quantity(text: str, words: Sequence[str]) -> bool:
    """True when the prompt ends by asking for a quantity, as a word problem does.

    The ask is read in the last sentence, after up to two closing notes on the answer's form
    ("(Round to the nearest cent.)", "Show your work.", an "Answer:" cue); ``words`` are the
    lower-cased words of the head, for the task, read only when the ask is a bare question.
    """
    tail = text[-ASK_CHARS:].rstrip().lower()
    ask = _last_sentence(tail)
    for _ in range(2):  # skip notes on the answer's form
        first = _FIRST_WORD.search(ask)
        cue = ask.rstrip().endswith(":") and len(ask.split()) <= 2
        if not (cue or ask.lstrip().startswith("(") or (first is not None and first.group() in ANSWER_FORM)):
            break
        tail = tail[: len(tail) - len(ask)].rstrip()
        ask = _last_sentence(tail)
    if _QUANTITY_ASK.search(ask):
        return True
    return "?" in ask and task(words, text[:SCAN]) not in NOT_PROBLEMS


def opens_with_request(text: str) -> bool:
    """True when the prompt opens by instructing or casting the assistant ("Write…", "You are…").

    "You have 5 apples…" is a word problem told in the second person; "You are a sommelier…" is not.
    """
    words = _FIRST_WORD.findall(text[:64].lower())[:2]
    if not words:
        return False
    if words[0] in ("you", "you're", "you'll"):
        return words[0] != "you" or (len(words) > 1 and words[1] in ADDRESS_VERBS)
    return words[0] in REQUEST_OPENERS


def _last_sentence(tail: str) -> str:
    """The last sentence of ``tail`` (sentences end with ``_STOP``; a stop at its very end closes it)."""
    start = 0
    for stop in _STOP.finditer(tail, 0, len(tail) - 1):
        start = stop.end()
    return tail[start:]


def instruction_words(head: str) -> list[str]:
    """The lower-cased words of the first sentence of at least three words (the request, usually).

    Only the first ``INSTRUCTION_SENTENCES`` sentences are looked at, in one pass: a paste of many
    short lines (a CSV, a list) costs no more than prose.
    """
    start = 0
    for index, stop in enumerate(_STOP.finditer(head + "\n")):
        if index >= INSTRUCTION_SENTENCES:
            break
        words = _LETTERS.findall(head[start : min(stop.start(), start + INSTRUCTION_CHARS)].lower())
        if len(words) >= 3:
            return words
        start = stop.end()
    return []


def task(words: Sequence[str], head: str) -> str:
    """The prompt's task by its marker words, from its lower-cased words and its raw head."""
    return read(words, head)[0]


def read(words: Sequence[str], head: str) -> tuple[str, list[str]]:
    """(the task by marker words, the request's words: ``instruction_words``); do not mutate them.

    One prompt's task is asked for up to three times in a row (is a question a word problem, does a
    follow-up continue, the prior's gain), always with the same ``words`` list: the last reading is
    kept and returned again for that very list and the same head.
    """
    global _LAST_READ
    last = _LAST_READ
    if last is not None and last[0] is words and last[1] == head:
        return last[2]
    request = instruction_words(head)
    reading = (_marked_task(words, head, request), request)
    _LAST_READ = (words, head, reading)
    return reading


_LAST_READ: tuple[Sequence[str], str, tuple[str, list[str]]] | None = None


def _marked_task(words: Sequence[str], head: str, request: Sequence[str]) -> str:
    hits = dict.fromkeys(ORDER, 0)
    for word in words:
        for name in _WORD_INDEX.get(word, ()):
            hits[name] += 1
    for word in request:  # the request itself outweighs the material it quotes
        for name in _WORD_INDEX.get(word, ()):
            hits[name] += INSTRUCTION_WEIGHT - 1
    if has_code_syntax(head):
        hits["code"] += 2
    if has_maths_notation(head):
        hits["maths"] += 2
    best = max(ORDER, key=lambda name: (hits[name], -ORDER.index(name)))
    if hits[best] == 0:
        return "chat" if len(words) <= 4 else "other"
    if best == "chat" and len(words) > 12:  # a greeting in front of a real request
        hits["chat"] = 0
        best = max(ORDER, key=lambda name: (hits[name], -ORDER.index(name)))
        return best if hits[best] else "other"
    return best


def categories(words: Sequence[str], head: str) -> tuple[str, tuple[float, ...] | None]:
    """(the marker task, P(category) by the classifier; None for chat, which it does not read)."""
    marked, request = read(words, head)
    if marked == "chat":
        return marked, None
    return marked, MODEL.probabilities(taskmodel.features(words, request, marked))


def expected_gain(text: str, words: Sequence[str]) -> float:
    """The prior's prediction for one prompt: its categories' expected gain, a little more for longer prompts."""
    _, probabilities = categories(words, text[:SCAN])
    if probabilities is None:
        return GAINS["chat"]
    length = min(1.0, log1p(len(text)) / log1p(4000))
    return taskmodel.expected(probabilities, CATEGORY_GAINS) * (0.75 + 0.5 * length)


def continues(words: Sequence[str], head: str) -> bool:
    """True when a follow-up message sets no task of its own and so continues the conversation's.

    "make it shorter", "and in Go?", "why?", "explain it simply" read as chat, other or knowledge:
    what they ask depends on the earlier request. A message that only thanks or acknowledges
    ("thanks, that's all") asks for nothing, and one that names a task ("now write a haiku")
    sets its own.
    """
    return task(words, head) in CONTINUING and not only_closing(words)


def only_closing(words: Sequence[str]) -> bool:
    """True when a message only thanks or acknowledges ("thanks, that's all", "ok cool"): it asks for nothing."""
    return bool(words) and all(word in CLOSING for word in words)


MODEL = taskmodel.load()  # the classifier the prior reads categories with (``data/tasks-default.json``)
