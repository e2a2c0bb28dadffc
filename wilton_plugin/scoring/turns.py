"""Whether a follow-up continues its conversation or starts a new request (``ScorerModel.read_turns``).

A follow-up that continues ("make it shorter", "add pytest tests for it", "now for a 12-person
team", "translate it to Spanish") is about the conversation's material: the frontier's gain on
it is the conversation's. One that starts a new request mid-conversation ("btw, how long do I
boil an egg", "if 3 pumps fill a tank in 8 hours, how long would 4 take") stands for itself.
Session 6 told them apart by the follow-up's task alone (a follow-up that read as chat, "other"
or knowledge continued), so every unrelated question without task words inherited the
conversation's score and every reference to the material that named an operation ("put it in a
table") was scored alone. Now a follow-up continues when it is *linked* to what came before:

- it does not open with a signpost of a new topic ("unrelated, but", "different question:",
  "btw", "switching gears"), which wins over everything below;
- and it opens like a follow-up ("and…", "what if…", "same but…", "shorter", "in Python", "can
  you add…", "now make…"), refers back in its first words ("it", "that", "these", "the above",
  "instead"), has fewer than three content words of its own ("why?", "recursive version?") and
  does not open by asking for a new piece of work ("now write a limerick"), or shares a content
  word with an earlier user message in view or with the reply it answers.

A message that brings its own material (a colon or a line break early, then at least 100
characters: "pull the dates out of this: '…'") refers to that material, not to the conversation,
so its pronouns are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from wilton_plugin.scoring import wordproblem

SIGNPOST_CHARS = 80  # a new topic is announced in the message's first words
REFERENCE_WORDS = 20  # pronouns this far in refer back
MIN_OWN_WORDS = 3  # fewer content words than this: a fragment of the conversation ("why?", "in Go?")
MATERIAL_WITHIN = 200  # a colon or a line break this early ...
MATERIAL_CHARS = 100  # ... followed by this much text: the message brings its own material
# An earlier message's topic is looked for in its head and tail (a request, pasted material, the
# question after it): enough for a follow-up's words, and the cost stays flat for long turns.
OVERLAP_HEAD = 400
OVERLAP_TAIL = 200

_SIGNPOST = re.compile(
    r"\bunrelated\b|\b(?:different|another|new|random|separate|quick|other) (?:question|thing|topic|q)\b"
    r"|\bswitching gears\b|\bchang(?:e|ing) (?:of )?(?:topic|subject)\b|\bon another note\b|\boff[- ]topic\b"
    r"|\btotally different\b|\bsomething (?:else|different|fun)\b|\bstepping out\b|\bone more thing\b"
    r"|^(?:ok |okay |so )?random\b|\brandom (?:but|q)\b|^.{0,40}\b(?:btw|by the way)\b"
)
_MATERIAL = re.compile(r"[:\n]")
OPENERS = frozenset(
    "ok okay and so but then also or same redo make add remove change keep shorter longer more less explain "
    "show give in as".split()
)
# Words before the one that says what a message does: "can you add…", "please make…", "now add…".
LEADING = frozenset("can could would will you u please pls plz kindly now hey".split())
# A message that opens by asking for a new piece of work ("now write a haiku about autumn") starts a
# request even when it is short, unless it refers back ("write tests for it").
CREATING = frozenset("write compose draft create generate invent".split())
OPENING_PAIRS = frozenset({("what", "about"), ("how", "about"), ("what", "if")})
REFERENCES = frozenset(
    "it its this that these those them they their above same again instead also then each both your previous "
    "earlier".split()
)
# Words that say nothing of a message's topic: function words, courtesy, and the verbs of asking.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can cannot could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself let me more most my myself no nor not
    of off on once only or other ought our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why with would you your yours yourself yourselves will shall may might
    must just like also get got make made want need please pls thanks thank know think tell give show use using
    one two three first second new way lot really much many well good best yes yeah okay hey hi actually still
    even now thing things done say said ask asked answer question help write explain don doesn didn isn aren wasn
    weren won wouldn shouldn couldn great cool nice perfect awesome thx""".split()
)


def new_topic(text: str) -> bool:
    """True when the message opens by announcing a new topic ("unrelated, but", "btw", "different question")."""
    return _SIGNPOST.search(text[:SIGNPOST_CHARS].lower()) is not None


def content_words(words: Iterable[str]) -> set[str]:
    """The words that say what a message is about (no function words, none shorter than 3 letters)."""
    return {w for w in words if len(w) > 2 and w not in STOPWORDS}


def linked(words: Sequence[str], text: str, earlier: Iterable[str]) -> bool:
    """True when a follow-up (its lower-cased ``words`` and ``text``) is linked to the conversation:
    it opens like a follow-up, refers back, is a fragment, or shares a content word with one of the
    ``earlier`` texts (the nearest first: the reply it answers, then earlier user messages), which are
    read only if needed, and only their head and tail."""
    if not words:
        return True
    lead = next((i for i, word in enumerate(words) if word not in LEADING), len(words))
    if words[0] in OPENERS or words[lead:lead + 1] and words[lead] in OPENERS \
            or tuple(words[:2]) in OPENING_PAIRS or tuple(words[lead:lead + 2]) in OPENING_PAIRS:
        return True
    if not brings_material(text) and not REFERENCES.isdisjoint(words[:REFERENCE_WORDS]):
        return True
    own = content_words(words)
    if words[lead:lead + 1] and words[lead] in CREATING:
        return False
    if len(own) < MIN_OWN_WORDS:
        return True
    return any(not own.isdisjoint(wordproblem.tokens(_ends(other))[0]) for other in earlier if other)


def _ends(text: str) -> str:
    """The part of an earlier text a follow-up's words are looked for in: its head and its tail."""
    if len(text) <= OVERLAP_HEAD + OVERLAP_TAIL:
        return text
    return f"{text[:OVERLAP_HEAD]}\n{text[-OVERLAP_TAIL:]}"


def brings_material(text: str) -> bool:
    """True when the message quotes its own material (a colon or line break early, then 100+ characters)."""
    found = _MATERIAL.search(text, 0, MATERIAL_WITHIN)
    return found is not None and len(text) - found.end() >= MATERIAL_CHARS


