"""The Prometheus rules are code: the committed file is the generator's output, promtool accepts
it, its unit tests in prometheus/tests/ pass, and they fail when a metric name is misspelt."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sidecars.coherence.metrics import CoherenceMetrics
from wilton_plugin.metrics import plugin_series_names, series_names
from wilton_plugin.observability import rules

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "wilton.rules.yml"
TOKENS_RULES_FILE = PROMETHEUS_DIR / "wilton.tokens.rules.yml"
TOKENS_TEST_FILES = sorted((PROMETHEUS_DIR / "tests" / "tokens").glob("*.yml"))
CONFIG_FILE = PROMETHEUS_DIR / "prometheus.yml"
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not on PATH (Debian: apt-get install prometheus)"
)

# Every series the rules may read: the plugin's metrics (issue 3), the coherence sidecar's, and
# Prometheus's own `up`. A name outside this set is a typo.
KNOWN_SERIES = (
    plugin_series_names()
    | series_names(CoherenceMetrics().registry)
    | {"up"}
)


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_committed_rules_file_is_a_fresh_build() -> None:
    assert RULES_FILE.read_text(encoding="utf-8") == rules.render(), (
        "prometheus/wilton.rules.yml differs from the generator; regenerate it with "
        "`python -m wilton_plugin.observability.rules --out prometheus/wilton.rules.yml`"
    )


def test_committed_tokens_rules_file_is_a_fresh_tokens_build() -> None:
    assert TOKENS_RULES_FILE.read_text(encoding="utf-8") == rules.render(phi_unit="tokens"), (
        "prometheus/wilton.tokens.rules.yml differs from the generator; regenerate it with "
        "`python -m wilton_plugin.observability.rules --phi-unit tokens`"
    )


def test_phi_unit_tokens_makes_the_alert_compare_the_token_share(tmp_path: Path) -> None:
    """With phi_unit tokens the balancer holds the token share: the alert (and its probe's quantity) must
    read wilton:phi_tokens:ratio_rate5m, never the request share; the default stays on requests."""
    def phi_alert(document: dict) -> dict:
        return next(rule for rule in document["groups"][1]["rules"] if rule["alert"] == "WiltonPhiOutOfBand")

    tokens = phi_alert(rules.build(phi_unit="tokens"))
    assert tokens["expr"] == (
        "wilton:phi_tokens:ratio_rate5m and on () "
        "(abs(wilton:phi_tokens:ratio_rate5m - on () wilton:phi_target:max) > 0.05)"
    )
    assert "wilton:phi:ratio_rate5m" not in tokens["expr"]
    assert "share of tokens" in tokens["annotations"]["description"]
    requests = phi_alert(rules.build())
    assert requests["expr"].startswith("wilton:phi:ratio_rate5m and on ()")
    assert "phi_unit=tokens" in rules.render(phi_unit="tokens").splitlines()[1]
    with pytest.raises(ValueError, match="phi_unit"):
        rules.build(phi_unit="bytes")
    out = tmp_path / "tokens.yml"
    assert rules.main(["--phi-unit", "tokens", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == rules.render(phi_unit="tokens")


def test_check_mode_exits_1_when_the_file_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wilton.rules.yml"
    assert rules.main(["--out", str(out)]) == 0
    assert rules.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("> 0.05", "> 0.5"), encoding="utf-8")
    assert rules.main(["--out", str(out), "--check"]) == 1
    assert rules.main(["--out", str(tmp_path / "missing.yml"), "--check"]) == 1
    assert "differs from a fresh build" in capsys.readouterr().err


def test_parameters_reach_the_alerts() -> None:
    document = rules.build(
        phi_band=0.03, frontier_budget_usd_per_hour=12.5, for_durations={"WiltonPhiOutOfBand": "20m"}
    )
    alerts = {rule["alert"]: rule for rule in document["groups"][1]["rules"]}
    assert alerts["WiltonPhiOutOfBand"]["expr"].endswith("> 0.03)")
    assert alerts["WiltonPhiOutOfBand"]["for"] == "20m"
    assert "± 3 pp" in alerts["WiltonPhiOutOfBand"]["annotations"]["summary"]
    assert alerts["WiltonFrontierSpendHigh"]["expr"].endswith("> 12.5")
    assert alerts["WiltonFrontierSpendHigh"]["for"] == "15m"
    with pytest.raises(ValueError, match="unknown alert"):
        rules.build(for_durations={"WiltonNoSuchAlert": "5m"})
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        rules.build(for_durations={"WiltonPhiOutOfBand": "ten minutes"})
    with pytest.raises(ValueError, match="phi_band"):
        rules.build(phi_band=0)


def test_every_rule_has_severity_and_annotations_that_show_the_value() -> None:
    for rule in rules.build()["groups"][1]["rules"]:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        assert "$value" in rule["annotations"]["description"], rule["alert"]


def test_expressions_read_only_known_series() -> None:
    expressions = rules.all_expressions()
    assert len(expressions) == sum(len(group["rules"]) for group in rules.build()["groups"])
    recorded = {r.record for r in rules.recording_rules()}
    for expr in expressions:
        bare = re.sub(r'"[^"]*"', '""', expr)  # label values are not series names
        names = set(re.findall(r"(?<![\w:])([a-z_][a-z0-9_:]*)\s*[{\[]", bare))
        names |= set(re.findall(r"(?<![\w:])(wilton[a-z0-9_:]*)", bare))
        assert names <= KNOWN_SERIES | recorded, (expr, names - KNOWN_SERIES - recorded)


def test_probes_are_self_contained() -> None:
    probes = rules.probe_expressions(rules.ALL_NEEDS)
    assert set(probes) == {r.record for r in rules.recording_rules()} | set(rules.DEFAULT_FOR_DURATIONS)
    for name, expr in probes.items():
        assert not re.search(r"wilton:\w", expr), f"{name}: probe still reads a recorded series: {expr}"
    proxy_only = rules.probe_expressions()
    assert "wilton:phi:ratio_rate5m" in proxy_only
    assert "wilton:coherence_corrections:rate5m" not in proxy_only
    assert "wilton:time_to_first_token_seconds:p95_rate5m" not in proxy_only


def test_each_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        assert document["rule_files"] == ["../wilton.rules.yml"], path.name
        for group in document["tests"]:
            name = group.get("name", "")
            assert re.fullmatch(r"[a-z0-9_]+", name), f"{path.name}: test group without a behaviour name"
            assert f"# name: {name}\n" in text, f"{path.name}: no `# name: {name}` comment"
            for case in group.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    alerts = set(rules.DEFAULT_FOR_DURATIONS)
    assert alerts <= firing, f"alerts never shown to fire: {sorted(alerts - firing)}"
    never_quiet = alerts - {"WiltonProxyDown"} - quiet
    assert not never_quiet, f"alerts never shown to stay quiet: {sorted(never_quiet)}"


@needs_promtool
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    assert TEST_FILES, "no promtool unit tests in prometheus/tests/"
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


@needs_promtool
def test_promtool_tokens_unit_tests_pass() -> None:
    """The tokens variant: quiet while the token share holds (whatever the request share), firing
    when it does not."""
    assert TOKENS_TEST_FILES, "no promtool unit tests in prometheus/tests/tokens/"
    assert promtool("check", "rules", str(TOKENS_RULES_FILE)).returncode == 0
    for path in TOKENS_TEST_FILES:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["rule_files"] == ["../../wilton.tokens.rules.yml"]
    result = promtool("test", "rules", *map(str, TOKENS_TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TOKENS_TEST_FILES), result.stdout


@needs_promtool
def test_promtool_check_config() -> None:
    result = promtool("check", "config", str(CONFIG_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["wilton-proxy"]["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert jobs["wilton-proxy"]["scrape_interval"] == "5s"
    assert jobs["wilton-coherence"]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    assert jobs["wilton-insight"]["static_configs"][0]["targets"] == ["127.0.0.1:9465"]
    assert config["rule_files"] == ["wilton.rules.yml"]


def test_job_names_reach_the_up_alerts() -> None:
    """On Kubernetes annotation scraping the job label is not wilton-proxy: the up-based alerts take
    the job names as generator parameters."""
    jobs = rules.Jobs(proxy="k8s-proxy", coherence="k8s-coherence", insight="k8s-insight")
    alerts = {rule["alert"]: rule for rule in rules.build(jobs=jobs)["groups"][1]["rules"]}
    assert alerts["WiltonProxyDown"]["expr"] == 'up{job="k8s-proxy"} == 0'
    assert alerts["WiltonProxyAbsent"]["expr"] == 'absent(up{job="k8s-proxy"} == 1)'
    assert alerts["WiltonSidecarDown"]["expr"] == 'up{job=~"k8s-coherence|k8s-insight"} == 0'
    assert alerts["WiltonCoherenceSidecarAbsent"]["expr"] == 'absent(up{job="k8s-coherence"})'
    assert "--proxy-job k8s-proxy" in rules.render(jobs=jobs).splitlines()[2]
    assert "wilton-proxy" not in rules.render(jobs=jobs).split("groups:")[1]
    with pytest.raises(ValueError, match="job name"):
        rules.build(jobs=rules.Jobs(proxy='a"b'))


def test_proxy_absent_guard_is_critical_and_waits() -> None:
    alerts = {rule["alert"]: rule for rule in rules.build()["groups"][1]["rules"]}
    guard = alerts["WiltonProxyAbsent"]
    assert guard["expr"] == 'absent(up{job="wilton-proxy"} == 1)'
    assert guard["for"] == "5m" and guard["labels"]["severity"] == "critical"


@needs_promtool
def test_kubernetes_scrape_config_names_jobs_as_the_rules_expect(tmp_path: Path) -> None:
    """prometheus/kubernetes.yml sets job from the pod's app.kubernetes.io/name, so the up-based alerts
    match on annotation scraping. Debian's promtool has no Kubernetes discovery: the config is checked
    with it swapped for static_configs, which leaves every relabel rule checked."""
    text = (PROMETHEUS_DIR / "kubernetes.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["wilton"]}}]
    to_job = [r for r in job["relabel_configs"] if r.get("target_label") == "job"]
    assert to_job == [{"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "job"}]
    keep = [r for r in job["relabel_configs"] if r.get("regex") == "wilton-proxy|wilton-coherence|wilton-insight"]
    assert keep and set(keep[0]["regex"].split("|")) == {rules.PROXY_JOB, rules.COHERENCE_JOB, rules.INSIGHT_JOB}
    job["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    del job["kubernetes_sd_configs"]
    (tmp_path / "kubernetes.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copy(RULES_FILE, tmp_path / "wilton.rules.yml")
    result = promtool("check", "config", "kubernetes.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_unit_tests_fail_on_a_misspelt_metric(tmp_path: Path) -> None:
    """The unit tests are not vacuous: rules reading `wilton_request_total` (no s) still pass
    `promtool check rules`, but the φ tests fail."""
    good = rules.render()
    bad = good.replace("wilton_requests_total", "wilton_request_total")
    assert bad != good
    (tmp_path / "wilton.rules.yml").write_text(bad, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    for name in ("phi_recording_test.yml", "phi_out_of_band_test.yml"):
        shutil.copy(PROMETHEUS_DIR / "tests" / name, tmp_path / "tests" / name)

    assert promtool("check", "rules", "wilton.rules.yml", cwd=tmp_path).returncode == 0
    result = promtool(
        "test", "rules", "tests/phi_recording_test.yml", "tests/phi_out_of_band_test.yml", cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert output.count("FAILED") == 2, output
    assert 'expr: "wilton:phi:ratio_rate5m"' in output
    assert "name: phi_out_of_band_for_10m_fires" in output
