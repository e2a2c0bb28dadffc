"""Follow-ups: the learned scorer reads a message linked to its conversation with it, and a new request alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wilton_plugin.core.scorer import make_scorer, message_text, user_texts
from wilton_plugin.scoring import tasks, wordproblem
from wilton_plugin.scoring.model import CONTEXT_TURNS, family_and_tokens

SCORER = make_scorer("learned", None)
CODE = "Write a Python function that merges overlapping intervals in a list and returns them sorted."
POEM = "Write a short poem about the sea at dawn."
CHOICE = ("Which of the following best explains why ice floats on water?\nA. Ice is denser than water\n"
          "B. Hydrogen bonds hold ice in an open lattice\nC. Ice contains trapped air\nD. Water is compressible")


GENERIC = "Be concise and friendly."  # a system prompt that sets no task


def conversation(*turns: str, system: str = GENERIC) -> list[dict[str, object]]:
    """User turns with an assistant reply between each (the replies are code: they must not count)."""
    messages: list[dict[str, object]] = [{"role": "system", "content": system}]
    for index, turn in enumerate(turns):
        if index:
            messages.append({"role": "assistant", "content": "```python\ndef f(x): return sorted(x)\n```"})
        messages.append({"role": "user", "content": turn})
    return messages


def alone(text: str) -> float:
    return SCORER.score_text(text)


@pytest.mark.parametrize("followup", ["make it faster", "and in Go?", "why?", "ok now without sorting",
                                      "Can you add type hints and docstrings?", "explain it like I'm five", ""])
def test_a_follow_up_without_a_task_of_its_own_scores_like_the_request_it_continues(followup: str) -> None:
    assert alone(followup) != alone(CODE)
    assert SCORER.score(conversation(CODE, followup)) == alone(CODE)
    assert SCORER.score(conversation(POEM, followup)) == alone(POEM)


@pytest.mark.parametrize("followup", ["thanks!", "Thanks, that's all.", "Now write a haiku about autumn.",
                                      "Great, can you translate the docstring into French?",
                                      "unrelated, but what rhymes with orange?", "btw how are you today",
                                      "Write a limerick."])
def test_a_follow_up_that_thanks_or_starts_a_new_request_is_scored_alone(followup: str) -> None:
    assert SCORER.score(conversation(CODE, followup)) == alone(followup) < alone(CODE)


@pytest.mark.parametrize("followup", ["What is the capital of Mongolia and what language do people speak there?", "How long should I boil an egg?",
                                      "Sam buys 3 boxes of 12 pencils and gives away 7. How many pencils are left?"])
def test_a_new_question_that_shares_nothing_with_the_conversation_is_scored_alone(followup: str) -> None:
    """An unrelated question mid-conversation stands for itself, by its own family (a word problem is one)."""
    assert SCORER.score(conversation(POEM, followup)) == alone(followup)
    assert SCORER.score(conversation(CODE, followup)) == alone(followup)


@pytest.mark.parametrize("followup", ["put it in a table", "add pytest tests for it", "translate that to Spanish",
                                      "Can you add type hints and docstrings?", "same but for 12 people",
                                      "what about overlapping intervals that only touch?"])
def test_a_follow_up_that_refers_back_or_shares_the_topic_continues_even_when_it_names_an_operation(followup: str) -> None:
    assert SCORER.score(conversation(CODE, followup)) == alone(CODE) != alone(followup)


def test_the_reply_a_follow_up_answers_links_it_to_the_conversation() -> None:
    """A question about a word of the assistant's answer continues; the same question after another reply does not."""
    question = "why do you take the highest powers?"
    request = "Find the least common multiple of 12, 18 and 30."
    reply = "Factor each number: 12 = 2^2*3, 18 = 2*3^2, 30 = 2*3*5; take the highest powers of each prime..."
    messages = [{"role": "user", "content": request}, {"role": "assistant", "content": reply},
                {"role": "user", "content": question}]
    assert SCORER.score(messages) == alone(request) != alone(question)
    messages[1] = {"role": "assistant", "content": "The answer is 180."}
    assert SCORER.score(messages) == alone(question)


def test_only_user_messages_are_read_and_a_single_message_is_scored_as_before() -> None:
    # the replies are code; the conversation is a poem
    assert SCORER.score(conversation(POEM, "shorter, please")) == alone(POEM)
    assert SCORER.score(conversation(POEM)) == alone(POEM)
    assert SCORER.score([]) == SCORER.score(None) == 0.0


def test_the_look_back_stops_at_the_latest_request_and_after_the_limit() -> None:
    vague = ["why?", "and then?", "ok go on", "in plain words please", "and the other one?"]
    assert all(tasks.continues(wordproblem.tokens(v)[0], v) for v in vague)
    assert max(map(alone, vague)) < alone(CODE)
    # within CONTEXT_TURNS earlier messages the request is found
    assert SCORER.score(conversation(CODE, *vague[:CONTEXT_TURNS])) == alone(CODE)
    # one further back it is not: the first message in view is itself a follow-up, so the last is scored alone
    assert SCORER.score(conversation(CODE, *vague[: CONTEXT_TURNS + 1])) == alone(vague[CONTEXT_TURNS])
    # a later request that starts a new piece of work is where the look-back stops
    haiku = "Now write a haiku about autumn."
    assert SCORER.score(conversation(CODE, haiku, "make it longer")) == alone(haiku)
    # the conversation's first message sets its task whatever it says
    assert SCORER.score(conversation("hi", "why?")) == alone("hi")


def test_answer_options_are_scored_alone_and_numbers_in_a_follow_up_are_details() -> None:
    # a new exam question (few-shot turns, a quiz) is scored by its own family
    assert SCORER.score(conversation(CODE, CHOICE)) == alone(CHOICE)
    assert SCORER.score(conversation(CHOICE, "why not C?")) == alone(CHOICE)
    # numbers and a question that refer back are a detail of the request, not a word problem standing alone
    details = "We have 3 regions and about 40 tags per page. How many queries will that make?"
    assert family_and_tokens(details)[0] == "quant"
    assert SCORER.score(conversation(POEM, details)) == alone(POEM) != alone(details)
    problem = "Sam buys 3 boxes of 12 pencils and gives away 7. How many pencils does he have left?"
    assert SCORER.score(conversation(problem, "what if he gave away 9?")) == alone(problem)


def test_content_parts_are_read_and_other_parts_skipped() -> None:
    parts = [{"type": "text", "text": "what is wrong"}, {"type": "image_url", "image_url": {"url": "data:,"}},
             {"type": "text", "text": "with this?"}]
    messages = [{"role": "user", "content": CODE}, {"role": "assistant", "content": "..."},
                {"role": "user", "content": parts}]
    assert user_texts(messages, 2) == [CODE, "what is wrong\nwith this?"]
    assert message_text(messages) == "what is wrong\nwith this?"
    assert SCORER.score(messages) == max(alone(CODE), alone("what is wrong\nwith this?"))


SQL_APP = "You turn the analyst's question into one PostgreSQL query over the sales schema. Reply with SQL only."
POOL = [CODE, POEM, CHOICE, "why?", "thanks!", "make it shorter", "and in Rust?", "Now write a limerick.",
        "Tom has 4 apples and buys 6 more. How many does he have?", "", "explain step 2", "ok", "hi"]


@settings(max_examples=200, deadline=None, database=None)
@given(turns=st.lists(st.sampled_from(POOL), min_size=1, max_size=8), system=st.sampled_from([GENERIC, SQL_APP, ""]))
def test_a_conversation_scores_one_of_its_recent_messages(turns: list[str], system: str) -> None:
    """The score is the last message's own, an earlier one's in view (the first by its family), or the system prompt's."""
    score = SCORER.score(conversation(*turns, system=system))
    assert 0.0 <= score <= 1.0
    window = turns[-(CONTEXT_TURNS + 1):]
    readings = {alone(t) for t in window}
    if len(turns) <= CONTEXT_TURNS + 1:
        readings.add(alone(turns[0]))
    if system == SQL_APP:  # the app's score, averaged with the end user's message it was read with
        readings |= {(alone(SQL_APP) + reading) / 2 for reading in readings}
    assert score in readings
    if len(turns) == 1 and system != SQL_APP:
        assert score == alone(turns[0])


def test_a_follow_up_is_explained_as_read() -> None:
    from wilton_plugin.scoring.explain import explain_conversation

    puzzle = "Tom is taller than Ann by 3 cm and Ann is 150 cm tall. How tall is Tom?"
    assert family_and_tokens(puzzle)[0] == "quant"
    report = explain_conversation(SCORER.model, [CODE, puzzle])  # a new word problem: its own family
    assert (report["message"], report["family"]) == (2, "quant")
    assert report["score"] == SCORER.score(conversation(CODE, puzzle)) == alone(puzzle)
    assert "scored alone" in report["conversation"]
    variant = "what if Ann is 160 cm?"
    report = explain_conversation(SCORER.model, [puzzle, variant], replies=["", "Tom is 153 cm tall."])
    assert (report["message"], report["family"], report["score"]) == (1, "quant", alone(puzzle))
    assert "continues message 1" in report["conversation"]


@pytest.mark.parametrize("question", ["top 5 customers by revenue last month", "and only in Germany?",
                                      "how many orders were late in Q3"])
def test_when_no_user_message_sets_a_task_the_system_prompts_task_is_taken(question: str) -> None:
    """An app's task lives in its system prompt; the end user's input alone may not say what it is: the
    score is the mean of the two readings."""
    assert tasks.continues(wordproblem.tokens(question)[0], question)
    assert alone(question) < alone(SQL_APP)
    assert SCORER.score(conversation(question, system=SQL_APP)) == (alone(SQL_APP) + alone(question)) / 2
    assert SCORER.score([{"role": "developer", "content": SQL_APP}, {"role": "user", "content": question}]) == \
        (alone(SQL_APP) + alone(question)) / 2
    # a generic system prompt sets no task: the question stands for itself
    assert SCORER.score(conversation(question)) == alone(question)
    assert SCORER.score(conversation(question, system="You are a helpful assistant.")) == alone(question)


def test_a_user_message_that_sets_its_task_outranks_the_system_prompt() -> None:
    assert SCORER.score(conversation(POEM, system=SQL_APP)) == alone(POEM)
    assert SCORER.score(conversation(POEM, "shorter, please", system=SQL_APP)) == alone(POEM)
    # past the look-back, the system prompt still stands for the app's task, with the oldest message in view
    vague = ["why?", "and then?", "ok go on", "in plain words please", "and the other one?"]
    assert SCORER.score(conversation(CODE, *vague, system=SQL_APP)) == (alone(SQL_APP) + alone(vague[0])) / 2
    assert SCORER.score(conversation(CODE, *vague)) == alone(vague[-1])


def test_explain_names_the_system_prompt_when_it_set_the_score() -> None:
    from wilton_plugin.scoring.explain import explain_conversation

    question = "top 5 customers by revenue last month"
    report = explain_conversation(SCORER.model, [question], system=SQL_APP)
    assert (report["message"], report["task"], report["score"]) == (0, "coding", (alone(SQL_APP) + alone(question)) / 2)
    assert "mean of the system prompt's score and message 1's" in report["conversation"]


def test_replies_are_aligned_with_the_user_messages_they_precede() -> None:
    from wilton_plugin.core.scorer import replies_to

    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                {"role": "assistant", "content": [{"type": "text", "text": "a1"}]}, {"role": "user", "content": "u2"},
                {"role": "assistant", "content": None, "tool_calls": []}, {"role": "tool", "content": "t"},
                {"role": "user", "content": "u3"}, {"role": "user", "content": "u4"}]
    assert user_texts(messages, 4) == ["u1", "u2", "u3", "u4"]
    assert replies_to(messages, 4) == ["", "a1", "", ""]  # u3 answers a tool result, u4 another user message
    assert replies_to(messages, 2) == ["", ""]
    assert replies_to([{"role": "assistant", "content": "only"}], 3) == [""]
    assert replies_to(None) == replies_to([]) == []


def test_a_message_that_brings_its_own_material_is_not_read_as_referring_back() -> None:
    from wilton_plugin.scoring import turns

    pasted = ("pull the dates out of this: 'The board met on 14 March 2023, again on 2 May after the audit, "
              "and the two firms signed the merger agreement on 9 June in Lisbon.'")
    assert turns.brings_material(pasted) and not turns.brings_material("put this in a table")
    assert SCORER.score(conversation(POEM, pasted)) == alone(pasted)
    assert SCORER.score(conversation(POEM, "put this in a table")) == alone(POEM)
    assert turns.new_topic("ok, different question: what is 2+2") and turns.new_topic("haha cute. btw how are you")
    assert not turns.new_topic("make the intro different") and not turns.new_topic("explain the other step")
