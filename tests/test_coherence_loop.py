"""The coherence sidecar's clients and loop against a mocked proxy and Prometheus (httpx.MockTransport).

No sleeping: clocks are fake and the loop's wait is a recording function.
"""

from __future__ import annotations

import json
import logging
import threading

import httpx
import pytest

from sidecars.coherence.clients import AdminClient, AuthError, PrometheusError, PrometheusReader
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


class Fake:
    """A fake Wilton proxy admin API plus a fake Prometheus."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.proxy_up = True
        self.prom_up = True
        self.phi = 0.6
        self.status_phi = {"replica": 0.58, "global": 0.6}
        self.bias = 0.0
        self.expires_in = 300
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.puts: list[float] = []
        self.requests: list[tuple[str, str]] = []
        self.sample_age = 1.0
        self.reject_next_token = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.url.host == "prom.test":
            if not self.prom_up:
                raise httpx.ConnectError("refused", request=request)
            ts = self.clock() - self.sample_age
            return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [ts, str(self.phi)]}]}})
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
            return httpx.Response(200, json={"phi_target": 0.75, "phi_bias": self.bias, "phi": self.status_phi,
                                             "unit": "requests", "window": {}, "tiers": {}, "weights": {},
                                             "shared_state": False, "last_changes": []})
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
    prom = PrometheusReader(PROM, "wilton:phi:ratio_rate5m", client, clock=clock) if prometheus else None
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


def test_prometheus_reader_reports_age_and_refuses_bad_answers(clock):
    def answer(body, status=200):
        return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)))

    with answer({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [clock.now - 7, "0.7"]}]}}) as c:
        observation = PrometheusReader(PROM, "q", c, clock=clock).read()
    assert observation.phi == 0.7 and observation.age_s == pytest.approx(7)
    for body, status in [({"status": "success", "data": {"resultType": "vector", "result": []}}, 200),
                         ({"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "NaN"]}]}}, 200),
                         ({"status": "error", "error": "parse error"}, 400),
                         ({"status": "error", "error": "parse error"}, 200),
                         ({"nonsense": 1}, 200)]:
        with answer(body, status) as c, pytest.raises(PrometheusError):
            PrometheusReader(PROM, "q", c, clock=clock).read()


def test_one_iteration_corrects_the_bias_and_audits_it(fake, client, clock, caplog):
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


def test_prometheus_down_falls_back_to_the_proxy_status(fake, client, clock):
    fake.prom_up = False
    loop = make_loop(fake, client, clock)
    result = loop.iterate()
    assert result.ok and result.observation.source == "status:global" and result.observation.phi == 0.6
    assert fake.puts
    assert metric(loop, "wilton_coherence_errors_total", stage="prometheus") == 1
    fake.status_phi = {"replica": 0.7, "global": None}  # no shared state: this replica's φ
    clock.now += 10
    assert loop.iterate().observation.source == "status:replica"


def test_stale_prometheus_sample_falls_back_to_status(fake, client, clock):
    fake.sample_age = 300  # the recording rule stopped being evaluated
    loop = make_loop(fake, client, clock)
    result = loop.iterate()
    assert result.ok and result.observation.source.startswith("status")


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


def test_unexpected_exceptions_do_not_end_the_loop(fake, client, clock):
    loop = make_loop(fake, client, clock)
    calls = []

    def boom():
        calls.append(1)
        raise RuntimeError("bug")

    loop.iterate = boom
    stop = threading.Event()
    loop.run(stop, wait=lambda d: stop.set() if len(calls) >= 3 else None)
    assert len(calls) == 3


def test_backoff_is_exponential_and_capped():
    backoff = Backoff(5, 30)
    assert [backoff.next() for _ in range(5)] == [5, 10, 20, 30, 30]
    backoff.reset()
    assert backoff.next() == 5
