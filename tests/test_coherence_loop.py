"""The coherence sidecar's clients and loop against a mocked proxy and Prometheus (httpx.MockTransport).

No sleeping: clocks are fake and the loop's wait is a recording function.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading

import httpx
import pytest

from sidecars.coherence.clients import AdminClient, AdminError, AuthError, NoData, PrometheusError, PrometheusReader
from sidecars.coherence.controller import ControllerSettings
from sidecars.coherence.loop import Backoff, CoherenceLoop
from sidecars.coherence.metrics import CoherenceMetrics

PROXY = "http://proxy.test"
PROM = "http://prom.test"
PASSWORD = "s3cret-pw-XYZ"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


QUERY = "wilton:phi:ratio_rate5m"
LOOKBACK = 300.0  # Prometheus's default lookback delta: an instant query sees samples up to 5 min old


class Fake:
    """A fake Wilton proxy admin API plus a fake Prometheus that answers like the real one.

    The φ series is written by a recording rule evaluated every ``rule_interval`` seconds (at
    multiples of it) while ``rule_stopped_at`` is None; ``phi`` None means no traffic, so the rule
    writes nothing. An instant query at time ``t`` (the ``time`` parameter, else now) sees the latest
    sample at most ``LOOKBACK`` old and answers ``[t, value]``: the *evaluation* time, never the
    sample's. Only ``timestamp(<query>)`` tells when the sample was written.
    """

    def __init__(self, clock: Clock):
        self.clock = clock
        self.proxy_up = True
        self.prom_up = True
        self.phi: float | None = 0.6
        self.rule_interval = 1.0
        self.rule_stopped_at: float | None = None
        self.status_phi = {"replica": 0.58, "global": 0.6}
        self.status_window: dict = {"kind": "count", "size": 1000, "count": 1000, "total": 1000.0, "local": 600.0}
        self.status_time: float | None = None  # the proxy's clock in its status ("time"), when it reports one
        self.bias = 0.0
        self.expires_in = 300
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.puts: list[float] = []
        self.requests: list[tuple[str, str]] = []
        self.queries: list[str] = []
        self.reject_next_token = False
        self.unit = "requests"  # the proxy's phi_unit, as its /wilton/status reports it
        self.recorded = QUERY  # the one recorded φ series this Prometheus has (the proxy's unit's)

    def written_at(self, t: float) -> float | None:
        """When the φ sample an instant query at ``t`` sees was written; None when it sees none."""
        if self.phi is None:
            return None
        last = t if self.rule_stopped_at is None else min(t, self.rule_stopped_at)
        written = math.floor(last / self.rule_interval) * self.rule_interval
        return written if t - written <= LOOKBACK else None

    def prometheus(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        self.queries.append(query)
        t = float(request.url.params.get("time", self.clock()))
        stamp = re.fullmatch(r"timestamp\((.*)\)", query, re.S)
        if (stamp.group(1).strip() if stamp else query) != self.recorded:
            return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})
        written = self.written_at(t)
        result = []
        if written is not None:
            value = written if stamp else self.phi
            result = [{"metric": {} if stamp else {"__name__": self.recorded}, "value": [t, str(value)]}]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.url.host == "prom.test":
            if not self.prom_up:
                raise httpx.ConnectError("refused", request=request)
            return self.prometheus(request)
        if not self.proxy_up:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/wilton/token":
            body = json.loads(request.content)
            if body != {"username": "admin", "password": PASSWORD}:
                return httpx.Response(401, json={"detail": "bad credentials"})
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": self.expires_in})
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return httpx.Response(401, json={"detail": "invalid token"})
        if self.reject_next_token:
            self.reject_next_token = False
            self.valid_tokens.discard(token)
            return httpx.Response(401, json={"detail": "expired"})
        if request.url.path == "/wilton/status":
            body = {"phi_target": 0.75, "phi_bias": self.bias, "phi": self.status_phi, "unit": self.unit,
                    "window": self.status_window, "tiers": {}, "weights": {}, "shared_state": False, "last_changes": []}
            if self.status_time is not None:
                body["time"] = self.status_time
            return httpx.Response(200, json=body)
        if request.url.path == "/wilton/weights" and request.method == "GET":
            return httpx.Response(200, json={"weights": {}, "phi_bias": self.bias})
        if request.url.path == "/wilton/weights" and request.method == "PUT":
            value = json.loads(request.content)["phi_bias"]
            if not -0.5 <= value <= 0.5:
                return httpx.Response(422)
            self.bias = value
            self.puts.append(value)
            return httpx.Response(200, json={"weights": {}, "phi_bias": self.bias})
        return httpx.Response(404)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    return Fake(clock)


@pytest.fixture
def client(fake):
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as c:
        yield c


def make_loop(fake, client, clock, *, prometheus=True, dry_run=False, interval=10.0):
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    prom = PrometheusReader(PROM, QUERY, client) if prometheus else None
    settings = ControllerSettings(target=0.75, interval=interval)
    return CoherenceLoop(settings, admin, prom, CoherenceMetrics(), dry_run=dry_run, max_backoff=60,
                         clock=clock, wall_clock=clock)


def metric(loop, name, **labels):
    return loop.metrics.registry.get_sample_value(name, labels or None)


def test_token_is_renewed_before_it_expires(fake, client, clock):
    fake.expires_in = 60
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    admin.bias()
    assert fake.tokens_issued == 1
    clock.now += 40
    admin.bias()
    assert fake.tokens_issued == 1  # still well within its life
    clock.now += 9  # 49 s: past 80 % of 60 s, before expiry
    admin.bias()
    assert fake.tokens_issued == 2


def test_401_logs_in_again_and_retries_once(fake, client, clock):
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    admin.bias()
    fake.reject_next_token = True  # e.g. the proxy's signing key rotated
    assert admin.bias() == 0.0
    assert fake.tokens_issued == 2


def test_401_twice_is_an_auth_error(fake, client, clock):
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    fake.valid_tokens = set()

    class Forget(set):
        def add(self, item):  # tokens are issued but never accepted
            pass

    fake.valid_tokens = Forget()
    with pytest.raises(AuthError):
        admin.bias()
    assert fake.tokens_issued == 2


def test_wrong_password_is_an_auth_error_without_the_password(fake, client, clock):
    admin = AdminClient(PROXY, "admin", "wrong-password-123", client, clock=clock)
    with pytest.raises(AuthError) as info:
        admin.status()
    assert "wrong-password-123" not in str(info.value) and "wrong-password-123" not in repr(admin)


def test_the_reader_takes_the_age_from_timestamp_not_from_the_evaluation_time(fake, client, clock):
    fake.rule_stopped_at = clock.now - 7  # the rule last wrote φ 7 s ago; the query still sees it
    observation = PrometheusReader(PROM, QUERY, client).read()
    assert observation.phi == 0.6 and observation.age_s == pytest.approx(7)
    assert observation.timestamp == pytest.approx(clock.now - 7)
    assert fake.queries == [QUERY, f"timestamp(\n{QUERY}\n)"]


def test_the_reader_refuses_bad_answers_and_says_no_data_when_there_is_none(clock):
    def answer(body, status=200):
        return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)))

    def vector(*values):
        return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": v} for v in values]}}

    for body in [vector(), vector([clock.now, "NaN"])]:
        with answer(body) as c, pytest.raises(NoData):
            PrometheusReader(PROM, "q", c).read()
    for body, status in [({"status": "error", "error": "parse error"}, 400),
                         ({"status": "error", "error": "parse error"}, 200),
                         ({"nonsense": 1}, 200),
                         (vector([clock.now, "0.6"], [clock.now, "0.7"]), 200),  # not aggregated
                         ({"status": "success", "data": {"resultType": "scalar", "result": [clock.now, "0.6"]}}, 200),
                         (vector(["NaN", "0.6"]), 200)]:
        with answer(body, status) as c, pytest.raises(PrometheusError) as info:
            PrometheusReader(PROM, "q", c).read()
        assert not isinstance(info.value, NoData), body


def test_an_invalid_url_is_an_error_the_loop_backs_off_from(clock):
    def refuse(request):
        raise httpx.InvalidURL("Invalid port: 'notaport'")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(PrometheusError, match="InvalidURL: Invalid port: 'notaport'"):
            PrometheusReader(PROM, QUERY, c).read()
        with pytest.raises(AdminError, match="InvalidURL: Invalid port: 'notaport'"):
            AdminClient(PROXY, "admin", PASSWORD, c, clock=clock).status()


def test_one_iteration_corrects_the_bias_and_audits_it(fake, client, clock, caplog):
    fake.rule_stopped_at = clock.now - 1  # the sample was written 1 s ago
    loop = make_loop(fake, client, clock)
    with caplog.at_level(logging.INFO, logger="wilton.coherence"):
        result = loop.iterate()
    assert result.ok and result.applied
    assert fake.puts == [pytest.approx(0.02)]
    assert "phi_bias 0.0000 → 0.0200" in caplog.text and "φ=0.6000" in caplog.text and "target=0.7500" in caplog.text
    assert PASSWORD not in caplog.text and "tok-" not in caplog.text
    assert metric(loop, "wilton_coherence_corrections_total", kind="bias") == 1
    assert metric(loop, "wilton_coherence_observed_phi") == 0.6
    assert metric(loop, "wilton_coherence_data_age_seconds") == 1.0
    assert metric(loop, "wilton_coherence_bias") == pytest.approx(0.02)
    assert metric(loop, "wilton_coherence_last_success_timestamp_seconds") == clock.now


TOKENS_QUERY = "wilton:phi_tokens:ratio_rate5m"


def test_without_an_explicit_query_the_loop_reads_the_phi_of_the_proxys_unit(fake, client, clock):
    """phi_unit tokens: the balancer holds the token share, so the sidecar must read the token φ (the
    request φ would make it fight the inner loop); the unit comes from /wilton/status."""
    fake.unit, fake.recorded = "tokens", TOKENS_QUERY
    fake.rule_stopped_at = clock.now - 1
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    loop = CoherenceLoop(ControllerSettings(target=0.75, interval=10.0), admin, PrometheusReader(PROM, None, client),
                         CoherenceMetrics(), max_backoff=60, clock=clock, wall_clock=clock)
    result = loop.iterate()
    assert result.ok and result.observation.source == "prometheus" and result.fallback is None
    assert fake.queries == [TOKENS_QUERY, f"timestamp(\n{TOKENS_QUERY}\n)"]
    assert fake.puts == [pytest.approx(0.02)]
    fake.unit, fake.recorded = "requests", QUERY  # the proxy restarted with phi_unit requests
    fake.queries.clear()
    clock.now += 10
    fake.rule_stopped_at = clock.now - 1
    assert loop.iterate().ok and fake.queries[0] == QUERY
    fake.proxy_up = False  # the status cannot be read: the last unit seen holds
    fake.queries.clear()
    clock.now += 10
    loop.iterate()
    assert fake.queries and fake.queries[0] == QUERY


def test_an_explicit_query_wins_over_the_proxys_unit(fake, client, clock):
    fake.unit = "tokens"  # the operator's own query (requests' rule) is read all the same
    fake.rule_stopped_at = clock.now - 1
    loop = make_loop(fake, client, clock)
    assert loop.iterate().ok
    assert fake.queries == [QUERY, f"timestamp(\n{QUERY}\n)"]


def test_an_unknown_unit_is_a_problem_and_no_query_is_guessed(fake, client, clock):
    fake.unit = "bytes"
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    loop = CoherenceLoop(ControllerSettings(target=0.75, interval=10.0), admin, PrometheusReader(PROM, None, client),
                         CoherenceMetrics(), max_backoff=60, clock=clock, wall_clock=clock)
    result = loop.iterate()
    assert not fake.queries and not fake.puts
    assert "unit 'bytes'" in (result.error or "") + (result.fallback or "")


def run_for(loop, clock, iterations, before_iteration=lambda n: None):
    """Run the loop for ``iterations`` iterations in simulated time; the waits it asked for.
    ``before_iteration(n)`` is called before the n-th iteration (from 1)."""
    stop, waits = threading.Event(), []

    def wait(delay):
        waits.append(delay)
        clock.now += delay
        if len(waits) == iterations:
            stop.set()
        else:
            before_iteration(len(waits) + 1)

    before_iteration(1)
    assert loop.run(stop, wait=wait) == 0
    return waits


def lines(caplog, level, text):
    """The messages logged at ``level`` that contain ``text``."""
    return [r.getMessage() for r in caplog.records if r.levelname == level and text in r.getMessage()]


def test_no_traffic_holds_the_bias_instead_of_acting_on_the_status(fake, client, clock, caplog):
    fake.phi = None  # Prometheus answers, with no value: no traffic
    fake.status_phi = {"replica": 0.6, "global": 0.6}  # the share of the last requests, however old
    loop = make_loop(fake, client, clock)
    with caplog.at_level(logging.INFO, logger="wilton.coherence"):
        waits = run_for(loop, clock, 40)  # 400 s of zero traffic
    assert fake.puts == [] and fake.bias == 0.0
    assert waits == [10.0] * 40  # a hold is no failure: no backoff
    assert ("GET", "/wilton/status") not in fake.requests  # Prometheus answered: no fallback
    assert metric(loop, "wilton_coherence_holds_total", reason="no_data") == 40
    assert metric(loop, "wilton_coherence_errors_total", stage="observe") == 0
    assert caplog.text.count("holding phi_bias (no correction): no sample for") == 1
    assert loop.run(threading.Event(), once=True) == 0  # --once: holding is a success


def test_a_hold_integrates_nothing_and_the_controller_resumes_bumplessly(fake, client, clock, caplog):
    loop = make_loop(fake, client, clock)
    assert loop.iterate().applied and fake.bias == pytest.approx(0.02)
    fake.phi = None
    for _ in range(40):
        clock.now += 10
        result = loop.iterate()
        assert result.ok and result.held == "no_data" and result.action is None
    assert loop.state.bias == pytest.approx(0.02) and loop.state.integral == loop.state.bias and loop.state.frozen
    assert fake.puts == [pytest.approx(0.02)]
    fake.phi = 0.6
    clock.now += 10
    with caplog.at_level(logging.INFO, logger="wilton.coherence"):
        result = loop.iterate()
    assert result.applied and 0 < fake.bias - 0.02 <= loop.settings.max_step + 1e-9
    assert "φ is back (prometheus" in caplog.text


def test_the_same_sample_is_never_used_twice(fake, client, clock):
    fake.rule_interval = 15.0  # the rule writes φ every 15 s, the loop reads it every 10 s
    loop = make_loop(fake, client, clock)
    results = []
    for _ in range(4):  # samples written at t-10, t+5, t+20, and t+20 again
        results.append(loop.iterate())
        clock.now += 10
    assert [r.applied for r in results] == [True, True, True, False]
    assert [r.observation.age_s for r in results] == [10, 5, 0, 10]
    assert len(fake.puts) == 3 and metric(loop, "wilton_coherence_holds_total", reason="repeat") == 1


def test_prometheus_down_falls_back_to_a_recent_status_only(fake, client, clock):
    fake.prom_up = False
    fake.status_window = {"kind": "time", "size": 15, "count": 40, "total": 40.0, "local": 24.0}
    loop = make_loop(fake, client, clock)
    result = loop.iterate()
    assert result.ok and result.observation.source == "status:global" and result.observation.phi == 0.6
    assert fake.puts and metric(loop, "wilton_coherence_data_age_seconds") == 15
    assert metric(loop, "wilton_coherence_errors_total", stage="prometheus") == 1
    puts = len(fake.puts)
    for status_phi, window in [({"replica": 0.6, "global": None}, fake.status_window),  # one worker's last 1000
                               ({"replica": 0.6, "global": 0.6}, {"kind": "count", "size": 1000}),  # however old
                               ({"replica": 0.6, "global": 0.6}, {"kind": "time", "size": 3600})]:  # up to 1 h old
        fake.status_phi, fake.status_window = status_phi, window
        clock.now += 10
        result = loop.iterate()
        assert not result.ok and result.observation is None, window
    assert len(fake.puts) == puts
    assert metric(loop, "wilton_coherence_errors_total", stage="status") == 3
    assert "carries no age" in result.error or "may be 3600 s old" in result.error


def test_a_count_windows_status_is_used_when_its_oldest_entry_is_recent(fake, client, clock):
    # Before the status said when its window's oldest entry was recorded, a count window (the default)
    # gave no age, so without Prometheus the sidecar could never fall back to the status.
    fake.prom_up = False
    loop = make_loop(fake, client, clock)
    fake.status_time = clock.now + 500.0  # the proxy's clock, not the sidecar's, measures the age
    fake.status_window = {"kind": "count", "size": 1000, "count": 1000, "oldest_at": fake.status_time - 12.0}
    result = loop.iterate()
    assert result.ok and result.observation.source == "status:global" and result.observation.age_s == 12
    assert fake.puts
    puts = len(fake.puts)
    for window, time_ in [({"kind": "count", "size": 1000, "oldest_at": fake.status_time - 100.0}, fake.status_time),
                          ({"kind": "count", "size": 1000, "oldest_at": fake.status_time - 12.0}, None),  # no clock
                          ({"kind": "time", "size": 3600, "oldest_at": fake.status_time - 100.0}, fake.status_time)]:
        fake.status_window, fake.status_time = window, time_
        clock.now += 10
        result = loop.iterate()
        assert not result.ok and result.observation is None, (window, time_)
    assert len(fake.puts) == puts
    fake.status_window, fake.status_time = {"kind": "time", "size": 3600, "oldest_at": 88.0}, 100.0
    clock.now += 10
    result = loop.iterate()
    assert result.ok and result.observation.age_s == 12  # the oldest entry bounds a time window's age too


def test_a_stale_prometheus_sample_is_not_used(fake, client, clock):
    fake.rule_stopped_at = clock.now - 60  # the recording rule stopped being evaluated a minute ago
    loop = make_loop(fake, client, clock)
    result = loop.iterate()
    assert not result.ok and fake.puts == []  # and the status's count window gives no age
    assert "its φ sample is 60 s old (stale after 20 s)" in result.error
    assert metric(loop, "wilton_coherence_errors_total", stage="prometheus") == 1
    fake.status_window = {"kind": "time", "size": 10}
    clock.now += 10
    result = loop.iterate()
    assert result.ok and result.observation.source == "status:global" and result.observation.age_s == 10


def test_status_only_mode_acts_only_on_a_bounded_window(fake, client, clock):
    loop = make_loop(fake, client, clock, prometheus=False)
    assert not loop.iterate().ok and fake.puts == []
    fake.status_window = {"kind": "time", "size": 20}
    clock.now += 10
    assert loop.iterate().applied and fake.puts == [pytest.approx(0.02)]


def test_both_down_backs_off_without_crashing_or_putting(fake, client, clock):
    fake.prom_up = fake.proxy_up = False
    loop = make_loop(fake, client, clock)
    stop = threading.Event()
    waits = []

    def wait(delay):
        waits.append(delay)
        clock.now += delay
        if len(waits) == 7:
            stop.set()

    assert loop.run(stop, wait=wait) == 0
    assert waits == [10, 20, 40, 60, 60, 60, 60]
    assert fake.puts == []
    assert metric(loop, "wilton_coherence_errors_total", stage="observe") == 7


def test_a_failure_is_logged_when_it_starts_or_changes_at_debug_while_it_repeats_and_its_end_once(
        fake, client, clock, caplog):
    loop = make_loop(fake, client, clock)

    def outage(n):
        fake.prom_up = n >= 7  # Prometheus is back for the 7th iteration
        fake.proxy_up = n >= 5  # the proxy for the 5th: its status's count window gives no age, another problem

    with caplog.at_level(logging.DEBUG, logger="wilton.coherence"):
        waits = run_for(loop, clock, 8, outage)
    assert waits == [10, 20, 40, 60, 60, 60, 10, 10]
    assert lines(caplog, "WARNING", "") == [
        "no usable φ (prometheus: Prometheus unreachable: ConnectError; proxy: proxy unreachable at login: "
        "ConnectError); controller frozen; next try in 10 s (logged again when it changes or ends)",
        "no usable φ (prometheus: Prometheus unreachable: ConnectError; status: the proxy's /wilton/status φ "
        "(status:global) carries no age (count window, or this replica's last requests)); controller frozen; "
        "next try in 60 s (logged again when it changes or ends)",
    ]
    assert [line.partition(":")[0] for line in lines(caplog, "DEBUG", "still failing")] == [
        "still failing (2 iterations)", "still failing (3 iterations)", "still failing (4 iterations)",
        "still failing (6 iterations)"]
    assert lines(caplog, "INFO", "recovered") == ["recovered: no longer failing, after 6 iteration(s)"]
    assert not lines(caplog, "INFO", "backing off") and fake.puts
    assert metric(loop, "wilton_coherence_errors_total", stage="observe") == 6


def test_a_fallback_to_the_status_is_logged_once_while_it_lasts_though_the_samples_age_grows(
        fake, client, clock, caplog):
    fake.rule_stopped_at = clock.now - 60  # Prometheus's φ is stale, and older at each iteration
    fake.status_window = {"kind": "time", "size": 15}  # the status's φ is recent enough

    def rule_back_at_6(n):
        if n == 6:
            fake.rule_stopped_at = None

    loop = make_loop(fake, client, clock)
    with caplog.at_level(logging.DEBUG, logger="wilton.coherence"):
        waits = run_for(loop, clock, 7, rule_back_at_6)
    assert waits == [10] * 7  # a fallback is a success
    assert lines(caplog, "WARNING", "") == [
        "falling back to the proxy's /wilton/status: prometheus: its φ sample is 60 s old (stale after 20 s) "
        "(logged again when it changes or ends)"]
    assert lines(caplog, "DEBUG", "still falling back")[-1] == (
        "still falling back to the proxy's /wilton/status (5 iterations): prometheus: its φ sample is 100 s old "
        "(stale after 20 s)")
    assert len(lines(caplog, "DEBUG", "still falling back")) == 4
    assert lines(caplog, "INFO", "recovered") == [
        "recovered: no longer falling back to the proxy's /wilton/status, after 5 iteration(s)"]
    assert metric(loop, "wilton_coherence_errors_total", stage="prometheus") == 5


def test_recovery_makes_no_wild_correction(fake, client, clock):
    loop = make_loop(fake, client, clock)
    fake.phi = 0.75
    assert loop.iterate().ok
    fake.prom_up = fake.proxy_up = False
    for _ in range(20):  # a long outage
        clock.now += 60
        assert not loop.iterate().ok
    fake.prom_up = fake.proxy_up = True
    fake.phi = 0.45  # far off target when they come back
    clock.now += 60
    result = loop.iterate()
    assert result.ok
    assert len(fake.puts) == 1 and 0 < fake.puts[0] <= loop.settings.max_step + 1e-9
    # and it keeps moving at no more than max_step per interval
    for _ in range(5):
        clock.now += 10
        before = fake.bias
        loop.iterate()
        assert abs(fake.bias - before) <= loop.settings.max_step + 1e-6


def test_proxy_down_but_prometheus_up_freezes_and_backs_off(fake, client, clock):
    fake.proxy_up = False
    loop = make_loop(fake, client, clock)
    result = loop.iterate()
    assert not result.ok and fake.puts == []
    assert metric(loop, "wilton_coherence_errors_total", stage="proxy") >= 1


def test_an_outside_change_of_the_bias_is_followed(fake, client, clock):
    loop = make_loop(fake, client, clock)
    loop.iterate()
    fake.bias = -0.1  # an operator set it by hand
    clock.now += 10
    loop.iterate()
    assert abs(fake.puts[-1] - -0.1) <= loop.settings.max_step + 1e-9


def test_dry_run_makes_no_put(fake, client, clock, caplog):
    loop = make_loop(fake, client, clock, dry_run=True)
    with caplog.at_level(logging.INFO, logger="wilton.coherence"):
        for _ in range(5):
            assert loop.iterate().ok
            clock.now += 10
    assert fake.puts == [] and not any(method == "PUT" for method, _ in fake.requests)
    assert "dry-run: would set phi_bias" in caplog.text
    assert metric(loop, "wilton_coherence_corrections_total", kind="bias") == 0


def test_once_exit_codes(fake, client, clock):
    assert make_loop(fake, client, clock).run(threading.Event(), once=True) == 0
    fake.prom_up = fake.proxy_up = False
    assert make_loop(fake, client, clock).run(threading.Event(), once=True) == 1


def test_a_refused_put_freezes_and_is_counted(fake, client, clock):
    loop = make_loop(fake, client, clock)
    original = fake.handler

    def refuse_put(request):
        if request.method == "PUT":
            return httpx.Response(403)
        return original(request)

    fake.handler = refuse_put
    with httpx.Client(transport=httpx.MockTransport(lambda r: fake.handler(r))) as c:
        loop.admin.client = c
        loop.prometheus.client = c
        result = loop.iterate()
    assert not result.ok and loop.state.frozen and loop.state.bias == 0.0
    assert metric(loop, "wilton_coherence_errors_total", stage="apply") == 1


def test_unexpected_exceptions_do_not_end_the_loop_nor_flood_the_log(fake, client, clock, caplog):
    loop = make_loop(fake, client, clock)
    calls = []

    def boom():
        calls.append(1)
        raise RuntimeError("bug")

    loop.iterate = boom
    with caplog.at_level(logging.DEBUG, logger="wilton.coherence"):
        waits = run_for(loop, clock, 6)
    assert len(calls) == 6
    assert waits == [10, 20, 40, 60, 60, 60]  # backs off
    (first,) = lines(caplog, "ERROR", "")  # with its traceback, once; then at DEBUG
    assert first.startswith("unexpected error in an iteration: RuntimeError: bug; next try in 10 s "
                            "(logged again when it changes or ends)\nTraceback (most recent call last):")
    assert caplog.text.count("Traceback") == 1
    assert lines(caplog, "DEBUG", "still failing")[-1] == (
        "still failing (6 iterations): unexpected error in an iteration: RuntimeError: bug; next try in 60 s")
    assert len(lines(caplog, "DEBUG", "still failing")) == 5
    assert metric(loop, "wilton_coherence_errors_total", stage="loop") == 6


def test_an_unexpected_error_naming_a_url_logs_it_without_its_credentials(fake, client, clock, caplog):
    loop = make_loop(fake, client, clock)

    def boom():
        raise RuntimeError("cannot reach http://user:s3cret@prom.test:9090/api?token=t0ken")

    loop.iterate = boom
    with caplog.at_level(logging.DEBUG, logger="wilton.coherence"):
        run_for(loop, clock, 2)
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    assert caplog.text.count("Traceback") == 1
    assert "RuntimeError: cannot reach http://***@prom.test:9090/api?token=***" in caplog.text
    assert ("still failing (2 iterations): unexpected error in an iteration: RuntimeError: cannot reach "
            "http://***@prom.test:9090/api?token=***; next try in 20 s") in caplog.text


def test_backoff_is_exponential_and_capped():
    backoff = Backoff(5, 30)
    assert [backoff.next() for _ in range(5)] == [5, 10, 20, 30, 30]
    backoff.reset()
    assert backoff.next() == 5
