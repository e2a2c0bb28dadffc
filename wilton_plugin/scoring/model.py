"""The learned scorer's artifact (a small JSON file) and the scorer that applies it.

A prompt belongs to one of three *families*: ``choice`` (it lists answer options A-D),
``quant`` (free-form prose stating at least two quantities and asking for one, without code or
formal maths: word problems, estimates) and ``open`` (any other free-form prompt). A family
trained on enough rows has its own linear model over its own feature set (``features`` for
choice and open prompts, ``wordproblem`` for quant ones), with weights already divided by the
training scale. They all predict the same quantity —
the frontier's expected gain over local — so one table of quantiles of the training predictions
turns any of them into a score: the fraction of training prompts predicted to gain less, in
[0, 1], spread evenly, so thresholds keep their meaning when the model is retrained. A family
the training data did not cover is scored by a *prior* instead, rather than by a model fitted to
prompts of another kind: for ``open``, the task prior (``tasks``), whose expected gain per task is
calibrated by the same table. Inference is pure Python.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, NamedTuple

from wilton_plugin.core.scorer import heuristic_score, replies_to, system_text, user_texts
from wilton_plugin.errors import ConfigError
from wilton_plugin.scoring import features, tasks, turns, wordproblem

FORMAT = "wilton-scorer/2"
DEFAULT_ARTIFACT = Path(__file__).resolve().parent.parent / "data" / "scorer-default.json"
FAMILIES = ("choice", "quant", "open")
# Word problems are short (GSM8K's longest is 597 characters): a longer prompt stating quantities is
# a document (a report to extract from, a game's rules, a letter), where the word-problem model's
# length and sentence counts would extrapolate far beyond anything it was fitted on.
WORD_PROBLEM_MAX_CHARS = 1200
# A follow-up that sets no task of its own is read with up to this many earlier user messages.
CONTEXT_TURNS = 4
# name -> (text, word-problem tokens -> value, whether the value is a gain to calibrate like a prediction)
PRIORS: Mapping[str, tuple[Callable[[str, wordproblem.Tokens], float], bool]] = {
    "heuristic": (lambda text, parsed: heuristic_score(text), False),  # already a score in [0, 1]
    "tasks": (lambda text, parsed: tasks.expected_gain(text, parsed[0]), True),
}
FEATURE_SETS: Mapping[str, ModuleType] = {features.VERSION: features, wordproblem.VERSION: wordproblem}


def family(text: str) -> str:
    """``choice`` for a prompt with answer options, ``quant`` for one with quantities, else ``open``."""
    return family_and_tokens(text)[0]


def family_and_tokens(text: str) -> tuple[str, wordproblem.Tokens | None]:
    """The family, and the word-problem tokens when they were computed to decide it."""
    name, _, parsed = family_reason(text)
    return name, parsed


def family_reason(text: str) -> tuple[str, str, wordproblem.Tokens | None]:
    """The family, why (a short phrase, for ``wiltonctl score``), and the word-problem tokens if computed.

    ``quant`` is for prose stating quantities and asking for one (word problems); a prompt with
    code or formal maths (symbols, or words such as "probability", "prove", "integer") is ``open``
    whatever its numbers, and so is a request that quotes numbers (it opens by instructing or
    addressing the assistant, or does not end by asking for a quantity: an essay of 300 words,
    figures to extract, a role-play) or a prompt longer than any word problem
    (``WORD_PROBLEM_MAX_CHARS``): the word-problem model was not fitted to those.
    """
    if features.is_multiple_choice(text):
        return "choice", "lists answer options", None
    parsed = wordproblem.tokens(text)
    if len(text) > WORD_PROBLEM_MAX_CHARS:
        return "open", f"longer than a word problem: over {WORD_PROBLEM_MAX_CHARS:,} characters", parsed
    if wordproblem.quantities(parsed) < 2:
        return "open", "states fewer than two quantities", parsed
    head = text[: tasks.SCAN]
    if tasks.has_code(head, parsed[0]) or tasks.has_formal_maths(head, parsed[0]):
        return "open", "code or formal maths", parsed
    if tasks.opens_with_request(text):
        return "open", "opens by instructing or casting the assistant", parsed
    if not tasks.asks_for_quantity(text, parsed[0]):
        return "open", "does not end by asking for a quantity", parsed
    return "quant", "a word problem: a story stating quantities that asks for one", parsed


class Reading(NamedTuple):
    """Which user message of a conversation set the score (``ScorerModel.read_turns``)."""

    index: int  # into the user messages given, oldest first; -1: the system prompt (with the first message in view)
    family: str  # the family it was read in ("open" for the system prompt)
    score: float
    why: str


@dataclass(frozen=True)
class Prior:
    """A family the training data did not cover: scored by a fixed rule (``PRIORS``)."""

    name: str

    @property
    def calibrated(self) -> bool:
        """True when the prior predicts a gain, to be calibrated like a learned prediction."""
        return PRIORS[self.name][1]

    def value(self, text: str, parsed: wordproblem.Tokens | None = None) -> float:
        """The prior's value for one prompt (a gain when ``calibrated``, else a score in [0, 1])."""
        return PRIORS[self.name][0](text, parsed if parsed is not None else wordproblem.tokens(text))

    def to_dict(self) -> dict[str, Any]:
        return {"prior": self.name}


@dataclass(frozen=True)
class Linear:
    """weights · features(text) + bias over one feature set (``FEATURE_SETS``)."""

    feature_set: str
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...] | None = None  # the training rows' feature means (for explanations); optional
    _dense: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _words: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The structural set is dense features + word presence: its words are looked up sparsely.
        n_dense = len(features.DENSE_NAMES) if self.feature_set == features.VERSION else len(self.weights)
        words = {w: x for w, x in zip(features.VOCAB_WORDS, self.weights[n_dense:]) if x != 0.0}
        object.__setattr__(self, "_dense", self.weights[:n_dense])
        object.__setattr__(self, "_words", words)

    def raw(self, text: str, parsed: wordproblem.Tokens | None = None) -> float:
        """The predicted gain of the frontier over local (in the training scores' unit)."""
        if self.feature_set == features.VERSION:
            dense, present = features.parts(text)
            # fsum over the products and the words together: exactly rounded, so the score does not
            # depend on the order a set yields its words in (which changes with PYTHONHASHSEED).
            words = self._words
            terms = itertools.chain(map(float.__mul__, self._dense, dense), (words.get(w, 0.0) for w in present))
            return self.bias + math.fsum(terms)
        return self.bias + math.fsum(map(float.__mul__, self._dense, wordproblem.features(text, parsed)))

    def to_dict(self) -> dict[str, Any]:
        body = {
            "features": self.feature_set,
            "names": list(FEATURE_SETS[self.feature_set].NAMES),
            "weights": [_round(w) for w in self.weights],
            "bias": _round(self.bias),
        }
        if self.means is not None:
            body["means"] = [_round(m) for m in self.means]
        return body

    @classmethod
    def from_dict(cls, body: Any, name: str, where: str) -> Linear | Prior:
        """Family ``name``'s model from its artifact entry; ``ConfigError`` naming ``where`` when malformed."""
        if not isinstance(body, dict):
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (family {name!r} is missing).")
        if "prior" in body:
            if not isinstance(body["prior"], str) or body["prior"] not in PRIORS:
                raise ConfigError("scorer.artifact", where,
                                  f"Family {name!r} names prior {body['prior']!r}; known: {', '.join(PRIORS)}.")
            return Prior(body["prior"])
        feature_set = body.get("features")
        module = FEATURE_SETS.get(feature_set) if isinstance(feature_set, str) else None
        if module is None or body.get("names") != list(module.NAMES):
            raise ConfigError(
                "scorer.artifact", where,
                f"Family {name!r} was trained on features {body.get('features')!r}, this Wilton computes "
                f"{', '.join(map(repr, FEATURE_SETS))}; retrain with `wiltonctl train-scorer`.",
            )
        try:
            weights = tuple(_number(w) for w in _array(body["weights"]))
            bias = _number(body["bias"])
            means = tuple(_number(m) for m in _array(body["means"])) if body.get("means") is not None else None
        except KeyError:
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (family {name!r} has no weights).") from None
        except (TypeError, OverflowError):
            raise ConfigError("scorer.artifact", where,
                              f"Not a Wilton scorer artifact (family {name!r} has malformed weights or means).") from None
        if len(weights) != module.DIM or not all(map(math.isfinite, [*weights, bias, *(means or ())])) or (
            means is not None and len(means) != module.DIM
        ):
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (family {name!r} has malformed weights or means).")
        return cls(body["features"], weights, bias, means)


@dataclass(frozen=True)
class ScorerModel:
    """One linear model per family, mapped through the training predictions' quantiles."""

    families: Mapping[str, Linear | Prior]  # every name in FAMILIES
    quantiles: tuple[float, ...]  # ascending; 101 values (0th..100th percentile) of training predictions
    info: Mapping[str, Any]

    def score(self, text: str) -> float:
        """The prompt's score in [0, 1] by its family's model (calibrated) or prior."""
        name, parsed = family_and_tokens(text)
        return self.score_as(text, name, parsed)

    def read_turns(self, texts: Sequence[str], system: str = "", replies: Sequence[str] = (),
                   earlier: int = 0) -> Reading:
        """How the last of a conversation's user messages is scored.

        ``texts``: the conversation's user messages, oldest first (its last ``CONTEXT_TURNS + 2``
        are enough, what ``conversation`` returns: ``texts[0]`` is read only when there are fewer,
        as the conversation's first); ``system``: its system (or developer) prompt, if any;
        ``replies``: aligned with ``texts``, the assistant reply each message answers ("" or missing:
        none); ``earlier``: how many user messages came before ``texts[0]`` (only for the message
        numbers in ``Reading.why``, which count from the conversation's first).

        A follow-up linked to the conversation ("make it shorter", "add tests for it", "what if
        there are 12?", ``turns.linked``) asks for more of the conversation's task, so it gets the
        score of the latest earlier message that set one, looking back ``CONTEXT_TURNS`` messages.
        A follow-up that announces a new topic or is unlinked ("btw, how long do I boil an egg"),
        only thanks, or lists answer options is scored alone, by its own family. When no user
        message in view sets a task, a system prompt that sets one by its marker words (an app's
        "You turn questions into SQL", "Summarise the document") says what the app does, and the
        end user's message what this request is: the score is the mean of the two. Otherwise the
        conversation's first message stands for itself, and when it is out of view the last message
        is scored alone.
        """
        last = len(texts) - 1
        oldest = max(0, last - CONTEXT_TURNS)
        system_task = bool(system) and self._sets_task(system)
        index = last
        name, parsed, continues = self._read(texts, index, system_task, replies)
        while continues and index > oldest:
            index -= 1
            name, parsed, continues = self._read(texts, index, system_task, replies)
        if continues and system_task:  # the app's task, and the end user's input: neither reading alone is sure
            own = self.score_as(texts[index], name, parsed)
            return Reading(-1, "open", (self.score_as(system, "open") + own) / 2,
                           f"no user message in view sets a task of its own: the mean of the system prompt's score "
                           f"and message {earlier + index + 1}'s ({own:.3f})")
        if continues and index > 0:  # the first message is out of view: the last is scored alone
            index = last
            name, parsed = family_and_tokens(texts[last])
            why = f"the last message, scored alone: the {last - oldest + 1} messages looked back at all continue earlier ones"
        elif index == last:
            why = "the only message" if last + earlier == 0 else "the last message, scored alone: it starts a request of its own"
        else:
            why = f"the last message continues message {earlier + index + 1}, the request it is linked to"
        return Reading(index, name, self.score_as(texts[index], name, parsed), why)

    @staticmethod
    def _read(texts: Sequence[str], index: int, before: bool,
              replies: Sequence[str] = ()) -> tuple[str, wordproblem.Tokens | None, bool]:
        """One user message: its family, its tokens, whether it continues what came before
        (``before``: whether a system prompt that sets a task precedes the first message)."""
        text = texts[index]
        name, parsed = family_and_tokens(text)
        if index == 0:  # the conversation's first message sets its task, unless it only fills in the app's
            if not before or name != "open":
                return name, parsed, False
            words = (parsed if parsed is not None else wordproblem.tokens(text))[0]
            return name, parsed, tasks.continues(words, text[: tasks.SCAN])
        if name == "choice" or turns.new_topic(text):
            return name, parsed, False
        words = (parsed if parsed is not None else wordproblem.tokens(text))[0]
        if tasks.only_closing(words):  # "thanks, that's all": asks for nothing
            return name, parsed, False
        reply = replies[index] if index < len(replies) else ""
        earlier = [reply, *reversed(texts[max(0, index - CONTEXT_TURNS) : index])]  # the nearest first
        return name, parsed, turns.linked(words, text, earlier)

    @staticmethod
    def _sets_task(system: str) -> bool:
        """True when a system prompt names a task by marker words (code, maths, extraction, writing…)."""
        head = system[: tasks.SCAN]
        return tasks.task(wordproblem.tokens(head)[0], head) not in tasks.CONTINUING

    def predict(self, text: str) -> tuple[float, bool]:
        """(value, is a gain): the predicted gain before calibration, or an uncalibrated prior's score."""
        name, parsed = family_and_tokens(text)
        return self.predict_as(text, name, parsed)

    def predict_as(self, text: str, name: str, parsed: wordproblem.Tokens | None = None) -> tuple[float, bool]:
        """``predict`` by family ``name``'s model; ``parsed``: the text's word-problem tokens if known."""
        model = self.families[name]
        if isinstance(model, Prior):
            return model.value(text, parsed), model.calibrated
        return model.raw(text, parsed), True

    def score_as(self, text: str, name: str, parsed: wordproblem.Tokens | None = None) -> float:
        """``score`` by family ``name``'s model (0 for an empty text: nothing to answer)."""
        if not text:
            return 0.0
        value, is_gain = self.predict_as(text, name, parsed)
        return self.calibrate(value) if is_gain else value

    def calibrate(self, raw: float) -> float:
        """Where ``raw`` falls among the training predictions, in [0, 1], linear between quantiles."""
        q = self.quantiles
        if not math.isfinite(raw):
            return 0.5
        i = bisect.bisect_right(q, raw)
        if i <= 0:
            return 0.0
        if i >= len(q):
            return 1.0
        lo, hi = q[i - 1], q[i]
        frac = (raw - lo) / (hi - lo) if hi > lo else 0.5
        return (i - 1 + frac) / (len(q) - 1)

    def to_json(self) -> str:
        """The artifact's text (deterministic: same model, same bytes)."""
        body = {
            "format": FORMAT,
            "families": {name: self.families[name].to_dict() for name in FAMILIES},
            "quantiles": [_round(q) for q in self.quantiles],
            "info": dict(self.info),
        }
        return json.dumps(body, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "artifact") -> ScorerModel:
        """Parse and check an artifact; ``ConfigError`` naming what is wrong."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (invalid JSON: {exc}).") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            found = body.get("format") if isinstance(body, dict) else None
            hint = "; retrain with `wiltonctl train-scorer`" if isinstance(found, str) and found.startswith("wilton-scorer/") else ""
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (format is not {FORMAT}{hint}).")
        groups = body.get("families")
        if not isinstance(groups, dict):
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (no families).")
        families = {name: Linear.from_dict(groups.get(name), name, where) for name in FAMILIES}
        try:
            quantiles = tuple(_number(q) for q in _array(body["quantiles"]))
        except KeyError:
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (quantiles are missing).") from None
        except (TypeError, OverflowError):
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (quantiles are malformed).") from None
        if len(quantiles) < 2 or not all(map(math.isfinite, quantiles)) or list(quantiles) != sorted(quantiles):
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (quantiles are malformed).")
        info = body.get("info")
        if info is not None and not isinstance(info, dict):
            raise ConfigError("scorer.artifact", where,
                              f"Not a Wilton scorer artifact (info is a {type(info).__name__}, not an object).")
        return cls(families, quantiles, dict(info or {}))


def conversation(messages: Sequence[Mapping[str, Any]] | None) -> tuple[list[str], str, list[str]]:
    """What the scorer reads of a request's messages, for ``ScorerModel.read_turns``: the last
    ``CONTEXT_TURNS + 2`` user messages, oldest first (one more than is read: is the first in view
    the conversation's first?), the system prompt ("" when there is no user text), and the reply each
    message answers (empty for one message: the first is never read with a reply).

    ``LearnedScorer.score`` and ``wiltonctl score --messages`` both read a conversation through it."""
    texts = user_texts(messages, CONTEXT_TURNS + 2)
    system = system_text(messages) if texts else ""
    return texts, system, replies_to(messages, len(texts)) if len(texts) > 1 else []


def _array(value: Any) -> list[Any]:
    """An artifact's JSON array; ``TypeError`` for anything else (a string of digits is not weights)."""
    if not isinstance(value, list):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return value


def _number(value: Any) -> float:
    """An artifact's JSON number as a float; ``TypeError`` for anything else (``true`` is not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _round(x: float) -> float:
    return float(f"{x:.9g}")


class LearnedScorer:
    """The ``learned`` scorer: the artifact's calibrated prediction for the last user message."""

    uniform = True  # scores are training quantiles: evenly spread over [0, 1] on the training data

    def __init__(self, model: ScorerModel, path: str | None = None, load_seconds: float = 0.0) -> None:
        self.model = model
        self.path = path
        self.load_seconds = load_seconds

    @classmethod
    def load(cls, artifact: str | Path | None = None) -> LearnedScorer:
        """Read an artifact (the shipped default when None); ``ConfigError`` at start-up when unusable."""
        path = Path(artifact) if artifact else DEFAULT_ARTIFACT
        start = time.perf_counter()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("scorer.artifact", str(path), f"Cannot read it ({getattr(exc, 'strerror', None) or exc}).") from None
        model = ScorerModel.from_json(text, str(path))
        return cls(model, str(path), time.perf_counter() - start)

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1] of the last user message, read with its conversation (``read_turns``)."""
        texts, system, replies = conversation(messages)
        if len(texts) <= 1 and not system:
            return self.score_text(texts[0] if texts else "")
        return self.model.read_turns(texts, system, replies).score

    def score_text(self, text: str) -> float:
        """The same for a bare prompt."""
        if not text:
            return 0.0
        return self.model.score(text)
