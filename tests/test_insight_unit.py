"""The insight sidecar's pure analysis, its LLM answer checks, and the plugin's decision log."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from sidecars.insight.analysis import (
    BadAnswer,
    analyse,
    counter_increase,
    histogram_quantile,
    parse_recommendations,
    summed_increases,
    unknown_numbers,
)
from wilton_plugin.errors import ConfigError
from wilton_plugin.metrics import Outcome
from wilton_plugin.settings import parse_settings

from helpers import DEMO_MODEL_LIST, in_process_service


# --- the decision log ----------------------------------------------------------------------------


async def test_the_decision_log_is_bounded_and_memory_stays_flat_over_100000_requests():
    service = in_process_service(decision_log_size=1000)
    outcome = Outcome("c", "frontier-gpt-4o", True, input_tokens=10, output_tokens=20, latency_s=0.1, cost_usd=1e-4)
    tracemalloc.start()
    try:
        for _ in range(10_000):  # the log fills and is then replaced entirely by traced records
            await service.served(outcome)
        baseline, _ = tracemalloc.get_traced_memory()
        for _ in range(90_000):  # 100,000 in all
            await service.served(outcome)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(service.decisions) == 1000 == service.decisions.records.maxlen
    assert after - baseline < 64 * 1024, f"memory grew by {after - baseline} bytes"


async def test_decision_log_size_zero_keeps_nothing():
    service = in_process_service(decision_log_size=0)
    await service.served(Outcome("c", "edge-llama3.2", True))
    assert len(service.decisions) == 0


async def _route_and_serve(service, i: int, content: str) -> None:
    chosen = await service.route("chat", DEMO_MODEL_LIST, [{"role": "user", "content": content}],
                                 {"litellm_call_id": f"c{i}", "metadata": {"user_api_key_team_id": "team-a"}})
    await service.served(Outcome(f"c{i}", chosen["model_info"]["id"], True, input_tokens=5, output_tokens=7, latency_s=0.2))


async def test_the_decision_log_has_no_prompt_text_by_default():
    service = in_process_service()
    for i in range(20):
        await _route_and_serve(service, i, f"the secret plan number {i}")
    records = service.decisions.latest(100)
    assert len(records) == 20
    for record in records:
        assert record.prompt is None and "prompt" not in record.as_dict()
        assert "secret plan" not in json.dumps(record.as_dict())
        assert record.reason in {"balance", "difficulty"} and record.team_id == "team-a"
        assert 0.0 <= record.difficulty <= 1.0 and record.input_tokens == 5 and record.status == "success"


async def test_the_decision_log_keeps_the_prompt_only_when_turned_on():
    service = in_process_service(decision_log_prompts=True)
    await _route_and_serve(service, 0, "the secret plan")
    [record] = service.decisions.latest(10)
    assert record.as_dict()["prompt"] == "the secret plan"


@pytest.mark.parametrize("key, value", [("decision_log_size", -1), ("decision_log_size", 1_000_001),
                                        ("decision_log_size", 2.5), ("decision_log_size", "many"),
                                        ("decision_log_prompts", "maybe")])
def test_bad_decision_log_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        parse_settings({key: value})


def test_decision_log_settings_defaults():
    settings = parse_settings({})
    assert settings.decision_log_size == 10_000 and settings.decision_log_prompts is False
    assert parse_settings({"decision_log_size": 0, "decision_log_prompts": "true"}).decision_log_prompts is True


@pytest.mark.parametrize("limit", ["0", "10001", "abc", "-3", "1.5"])
def test_get_decisions_rejects_a_limit_out_of_bounds(limit):
    from wilton_plugin.admin.api import AdminApi
    from wilton_plugin.admin.config import AdminConfig

    api = AdminApi(in_process_service(), config=AdminConfig())
    response = api.decisions(limit)
    assert response.status_code == 422


async def test_get_decisions_returns_the_newest_records_oldest_first():
    from wilton_plugin.admin.api import AdminApi
    from wilton_plugin.admin.config import AdminConfig

    service = in_process_service()
    for i in range(5):
        await service.served(Outcome(f"c{i}", "edge-llama3.2", True, input_tokens=i))
    body = AdminApi(service, config=AdminConfig()).decisions("3")
    assert [d["input_tokens"] for d in body["decisions"]] == [2, 3, 4]
    assert body["size"] == 10_000 and body["prompts"] is False


# --- the analysis ----------------------------------------------------------------------------------


def test_counter_increase_counts_from_zero_for_a_series_born_in_the_window_and_survives_a_reset():
    assert counter_increase([[100, "0"], [102, "5"], [104, "9"]], window_start=0, step=2) == 9
    assert counter_increase([[0, "4"], [2, "5"], [4, "9"]], window_start=0, step=2) == 5  # older series: baseline
    assert counter_increase([[100, "3"], [102, "8"], [104, "2"], [106, "4"]], window_start=0, step=2) == 12  # restart
    assert counter_increase([], 0, 1) == 0


def _replica(instance: str, values: list[float | None], start: float = 0, step: float = 60) -> dict:
    points = [[start + i * step, str(v)] for i, v in enumerate(values) if v is not None]
    return {"metric": {"instance": instance, "tier": "edge", "status": "success"}, "values": points}


@pytest.mark.parametrize("a, b, true_increase", [
    # two replicas, +10 each per step; B restarts: the sums 2000, 2020, 2040, 1030, 1050, 1070 are not a reset
    ([1000, 1010, 1020, 1030, 1040, 1050], [1000, 1010, 1020, 0, 10, 20], 90),
    # B misses one scrape (absent at that step): the sums 2000, 2020, 1020, 2060 are not a reset either
    ([1000, 1010, 1020, 1030], [1000, 1010, None, 1030], 60),
], ids=["one-replica-restarts", "one-replica-misses-a-scrape"])
def test_increases_are_taken_per_series_before_replicas_are_added(a, b, true_increase):
    rows = summed_increases([_replica("a", a), _replica("b", b)], ("tier", "status"), window_start=0, step=60, value="count")
    assert rows == [{"tier": "edge", "status": "success", "count": true_increase}]


def test_summed_increases_keeps_label_sets_apart_and_reads_missing_labels_as_empty():
    series = [_replica("a", [0, 5]), {"metric": {"tier": "edge"}, "values": [[0, "0"], [60, "2"]]},
              {"metric": {"tier": "frontier", "status": "success"}, "values": []}]
    assert summed_increases(series, ("tier", "status"), 0, 60, "n") == [
        {"tier": "edge", "status": "success", "n": 5.0}, {"tier": "edge", "status": "", "n": 2.0},
        {"tier": "frontier", "status": "success", "n": 0.0}]


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def _collected():
    return {
        "window": {"start": 0.0, "end": 7200.0, "step": 60.0, "hours": 2},
        "phi_history": [[t, 0.75 if t < 3600 else 0.6] for t in range(0, 7200, 60)],
        "target_history": [[0, 0.75], [7200, 0.75]],
        "requests": [
            {"deployment": "selfhost-1", "tier": "selfhost", "status": "success", "count": 600.0},
            {"deployment": "edge-1", "tier": "edge", "status": "success", "count": 150.0},
            {"deployment": "edge-1", "tier": "edge", "status": "failure", "count": 50.0},
            {"deployment": "gpt", "tier": "frontier", "status": "success", "count": 250.0},
        ],
        "tokens": [{"tier": "frontier", "direction": "input", "count": 1000.0}],
        "cost": [{"deployment": "gpt", "tier": "frontier", "usd": 2.5}],
        "latency_buckets": {
            "selfhost-1": {"tier": "selfhost", "buckets": [[0.1, 500], [1.0, 600], [float("inf"), 600]]},
            "edge-1": {"tier": "edge", "buckets": [[0.1, 100], [1.0, 150], [float("inf"), 150]]},
            "gpt": {"tier": "frontier", "buckets": [[1.0, 10], [5.0, 250], [float("inf"), 250]]},
        },
        "decisions_by_reason": [{"tier": "frontier", "reason": "spill", "count": 3.0}],
        "corrections": None,
        "decisions": [{"tier": "frontier", "difficulty": 0.9, "team_id": "t1", "status": "success"}] * 12
        + [{"tier": "selfhost", "difficulty": 0.1, "status": "success"}] * 30,
        "team_targets": {"t1": 0.75},
        "prometheus_ok": True, "decisions_ok": True, "team_targets_ok": True, "problems": [],
    }


def test_analyse_computes_the_findings_code_can_compute():
    facts = analyse(_collected(), band=0.05)
    assert facts["phi"]["observed"] == 0.75 and facts["phi"]["target"] == 0.75
    assert facts["phi"]["time_outside_band_s"] == 3600.0 and facts["phi"]["share_of_time_outside_band"] == 0.5
    assert facts["worst_hours"][0]["hour"] == "1970-01-01T01:00Z"
    assert facts["tiers"]["frontier"]["cost_per_1000_requests_usd"] == 10.0
    assert facts["failing_deployments"] == ["edge-1"] and facts["slow_deployments"] == ["gpt"]
    assert facts["spills"] == 3
    assert facts["teams_far_from_target"] == [{"team": "t1", "requests": 12, "local_share": 0.0, "target": 0.75,
                                               "deviation": -0.75}]
    assert facts["teams_target_unknown"] == []
    assert facts["difficulty"]["frontier"]["p50"] == 0.9 and facts["difficulty"]["local"]["n"] == 30


def _team(team: str, local: int, frontier: int) -> list[dict]:
    return ([{"tier": "edge", "team_id": team, "status": "success"}] * local
            + [{"tier": "frontier", "team_id": team, "status": "success"}] * frontier)


def test_teams_are_judged_only_against_their_own_known_target_never_the_global_one():
    collected = {**_collected(), "decisions": _team("own-low", 0, 12) + _team("own-high", 12, 0) + _team("from-key", 0, 20)
                 + _team("far", 6, 6) + _team("few", 0, 9) + _team("bad-target", 0, 10),
                 "team_targets": {"own-low": 0.0, "own-high": 1.0, "far": 0.9, "bad-target": "nan"}}
    facts = analyse(collected, band=0.05)
    assert facts["phi"]["target"] == 0.75  # the global target, which no team here is judged against
    assert facts["teams_far_from_target"] == [{"team": "far", "requests": 12, "local_share": 0.5, "target": 0.9,
                                               "deviation": -0.4}]
    assert facts["teams_target_unknown"] == [{"team": "bad-target", "requests": 10, "local_share": 0.0},
                                             {"team": "from-key", "requests": 20, "local_share": 0.0}]


def test_the_report_names_the_teams_whose_target_is_unknown(tmp_path):
    from sidecars.insight.report import render_markdown

    facts = analyse({**_collected(), "team_targets": {}})
    text = render_markdown({"generated_at": "now", "facts": facts, "llm": {"model_group": "chat", "recommendations": [], "why_none": "x"},
                            "charts": {"phi": "p.png", "tokens": "t.png", "latency": "l.png"}})
    assert "Teams far from their target: none." in text
    assert "Teams not judged, target unknown" in text and "t1 (local share 0.0, 12 requests)" in text


def test_no_secret_nor_url_credential_reaches_a_report():
    from sidecars.insight.report import scrub

    text = "Prometheus unreachable at http://user:s3cret@prom:9090/?token=t0ken (ConnectError); password pw-Secret-1"
    assert scrub(text, ["pw-Secret-1", ""]) == (
        "Prometheus unreachable at http://***@prom:9090/?token=*** (ConnectError); password ***")


def test_numbers_not_among_the_facts_are_flagged():
    facts = analyse(_collected())
    text = "φ is 75% against 0.75; frontier costs 10.0 USD per 1000 requests; cut 2 replicas to save 41.3%"
    assert unknown_numbers(text, facts) == ["41.3%"]


@pytest.mark.parametrize("answer, why", [
    ("buy more GPUs", "did not answer JSON"),
    ('{"recommendations": [{"change": "x", "why": "y", "expected_effect": "z", "confidence": 1.5}]}', "confidence"),
    ('{"advice": []}', "recommendations"),
])
def test_garbage_answers_are_rejected_with_one_line(answer, why):
    with pytest.raises(BadAnswer, match=why):
        parse_recommendations(answer)


def test_a_fenced_json_answer_is_accepted():
    body = '```json\n{"recommendations": [{"change": "a", "why": "b", "expected_effect": "c", "confidence": 0.5}]}\n```'
    [rec] = parse_recommendations(body)
    assert rec.confidence == 0.5


# --- the fake upstream's fixed reply ---------------------------------------------------------------


async def test_the_fake_upstream_returns_reply_text_streamed_or_not_and_it_can_be_changed():
    import httpx

    from wilton_plugin.fakes.app import create_app
    from wilton_plugin.fakes.config import FakeConfig

    app = create_app("frontier", ["gpt-4o"], FakeConfig(reply_text='{"recommendations": []}'))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as c:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        answer = (await c.post("/v1/chat/completions", json=body)).json()
        assert answer["choices"][0]["message"]["content"] == '{"recommendations": []}'
        stream = (await c.post("/v1/chat/completions", json={**body, "stream": True})).text
        pieces = [json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                  for line in stream.splitlines() if line.startswith("data: {")]
        assert "".join(pieces) == '{"recommendations": []}'
        assert (await c.post("/_fake/config", json={"reply_text": "not json  at all"})).status_code == 200
        answer = (await c.post("/v1/chat/completions", json=body)).json()
        assert answer["choices"][0]["message"]["content"] == "not json  at all"
        assert (await c.post("/_fake/config", json={"reply_text": 5})).status_code == 422
