"""The seed's scripts and `make up`/`make down`/`make status` (scripts/stack.sh): fast static checks,
plus the refusals and the exporter script run for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, clean_env

ROOT_SCRIPTS = sorted(ROOT.glob("*.sh")) + sorted((ROOT / "scripts").glob("*.sh"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_seed_scripts_exist() -> None:
    names = {p.name for p in ROOT_SCRIPTS}
    for name in ("start_dashboard.sh", "start_metrics_exporter.sh", "start_coherence_daemon.sh",
                 "install_dashboard_dependencies.sh", "stack.sh"):
        assert name in names


@pytest.mark.parametrize("script", ROOT_SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_is_executable(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.mark.parametrize("name", ["start_dashboard.sh", "start_metrics_exporter.sh", "start_coherence_daemon.sh",
                                  "scripts/install_dashboard_dependencies.sh", "scripts/stack.sh"])
def test_script_is_strict_bash(name: str) -> None:
    script = ROOT / name
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n"), script.name
    assert "set -euo pipefail" in text, script.name


@pytest.mark.parametrize("script", ROOT_SCRIPTS, ids=lambda p: p.name)
def test_script_help(script: Path) -> None:
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert re.search(r"usage", result.stdout, re.I), result.stdout[:200]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck() -> None:
    # .ci/run installs shellcheck; the sourced library and the CI entry point are bash too
    scripts = [*ROOT_SCRIPTS, ROOT / "scripts/lib/sidecar.sh", ROOT / ".ci/run"]
    subprocess.run(["shellcheck", "-x", *map(str, scripts)], check=True, cwd=ROOT)


def test_ci_installs_what_setup_demo_deps_and_the_tests_need() -> None:
    """.ci/run on a fresh Debian: make, python3-venv (Debian's python3 has no ensurepip, so `python3 -m
    venv` fails), build-essential (llama-cpp-python compiles), curl (stack.sh), shellcheck (test_shellcheck)."""
    installed = set()
    for packages in re.findall(r"need_apt\+=\(([^)]*)\)", (ROOT / ".ci/run").read_text()):
        installed.update(packages.split())
    assert {"make", "python3-venv", "build-essential", "curl", "shellcheck", "redis-server", "prometheus"} <= installed


def test_exporter_refuses_without_a_multiproc_dir() -> None:
    port = _free_port()
    result = subprocess.run([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                            capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 1
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in result.stderr
    assert "--prometheus_metrics_port" in result.stderr


def test_exporter_serves_the_multiproc_dir_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "exporter.log"
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                                env=clean_env(PROMETHEUS_MULTIPROC_DIR=str(multiproc)),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=2) as response:
                    assert response.status == 200
                    assert response.headers["x-litellm-metrics-pid"]
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the exporter did not answer in 60 s"
                time.sleep(0.3)
        # LiteLLM's exporter imports litellm: with the bundled cost map, never a fetch from GitHub.
        children = (Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()).split()
        assert children
        for child in children:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert b"LITELLM_LOCAL_MODEL_COST_MAP=True" in environ
        # A second start sees LiteLLM's exporter on the port and has nothing to do.
        again = subprocess.run([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                               capture_output=True, text=True, timeout=60, env=clean_env())
        assert again.returncode == 0 and "nothing to do" in again.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    with socket.socket() as sock:  # the port is free again: the child went with the script
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_stack_refuses_without_the_needed_environment(tmp_path: Path) -> None:
    result = subprocess.run([str(ROOT / "scripts/stack.sh"), "up"], capture_output=True, text=True, timeout=60,
                            env=clean_env(PROXY_PORT=str(_free_port())))
    if "already running" in result.stderr:
        pytest.skip("a stack started from this checkout is running (make down)")
    assert result.returncode == 1
    for name in ("LITELLM_MASTER_KEY", "OLLAMA_SELFHOST_URL", "OPENAI_API_KEY", "WILTON_COHERENCE_PASSWORD"):
        assert name in result.stderr
    assert "refusing to start" in result.stderr


# --- scripts/stack.sh run for real, in a copy of the repository with fake parts -------------------

FAKE_PROXY = """#!/usr/bin/env python3
# A fake `litellm`: records its environment in .run/proxy.json, answers 200 on --port until SIGTERM.
import http.server, json, os, sys
run = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".run")
with open(os.path.join(run, "proxy.json"), "w") as out:
    json.dump(dict(os.environ), out)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Ok).serve_forever()
"""

FAKE_SIDECAR = """#!/usr/bin/env bash
# A fake sidecar: records its environment and arguments in .run/NAME.json, then waits to be stopped.
set -euo pipefail
python3 -c 'import json, os, sys; json.dump({"env": dict(os.environ), "argv": sys.argv[2:]}, open(sys.argv[1], "w"))' \\
  "$(dirname "$0")/.run/$(basename "$0" .sh).json" "$@"
exec sleep 300
"""


class FakeStack:
    """scripts/stack.sh copied into ``root`` with the repository's proxy config, a fake litellm in
    .venv/bin and fake sidecar start scripts that record the environment they were started with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "scripts").mkdir(parents=True)
        shutil.copy2(ROOT / "scripts/stack.sh", root / "scripts/stack.sh")
        (root / "config").mkdir()
        shutil.copy2(ROOT / "config/litellm_config.yaml", root / "config/litellm_config.yaml")
        (root / ".venv/bin").mkdir(parents=True)
        (root / ".run").mkdir()
        for path, text in ((root / ".venv/bin/litellm", FAKE_PROXY),
                           (root / "start_coherence_daemon.sh", FAKE_SIDECAR),
                           (root / "start_llm_insight.sh", FAKE_SIDECAR)):
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)

    def run(self, action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``scripts/stack.sh ACTION`` with exactly ``env`` (plus PATH and HOME)."""
        return subprocess.run([str(self.root / "scripts/stack.sh"), action], capture_output=True, text=True,
                              timeout=120, env=clean_env(WILTON_STACK_DASHBOARD="0", **env))

    def recorded(self, part: str) -> dict:
        """What the fake PART recorded when it started."""
        return json.loads((self.root / ".run" / f"{part}.json").read_text())


@pytest.fixture
def fake_stack(tmp_path: Path) -> Iterator[FakeStack]:
    """A FakeStack, brought down at the end whatever the test did."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.skip("127.0.0.1:8000 (the stack's fixed exporter port) is in use here")
    stack = FakeStack(tmp_path / "repo")
    try:
        yield stack
    finally:
        stack.run("down", {})


# What config/litellm_config.yaml asks for, the proxy's admin user, a signing key and the sidecars' passwords.
STACK_ENV = {"LITELLM_MASTER_KEY": "sk-test-master", "OLLAMA_SELFHOST_URL": "http://127.0.0.1:9",
             "OLLAMA_EDGE_URL": "http://127.0.0.1:9", "OPENAI_API_KEY": "sk-x", "GEMINI_API_KEY": "g-x",
             "UI_USERNAME": "ops", "UI_PASSWORD": "pw-ops-0123456789", "WILTON_JWT_SECRET": "s" * 40,
             "WILTON_COHERENCE_PASSWORD": "pw-ops-0123456789", "WILTON_INSIGHT_PASSWORD": "pw-ops-0123456789"}


def test_stack_starts_the_proxy_with_the_bundled_cost_map(fake_stack: FakeStack) -> None:
    up = fake_stack.run("up", {**STACK_ENV, "PROXY_PORT": str(_free_port()), "WILTON_STACK_COHERENCE": "0",
                               "WILTON_STACK_INSIGHT": "0"})
    assert up.returncode == 0, up.stderr
    assert fake_stack.recorded("proxy")["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_stack_logs_both_sidecars_in_as_ui_username(fake_stack: FakeStack) -> None:
    env = {k: v for k, v in STACK_ENV.items() if k != "WILTON_INSIGHT_PASSWORD"}
    up = fake_stack.run("up", {**env, "PROXY_PORT": str(_free_port())})
    assert up.returncode == 0, up.stderr
    coherence, insight = fake_stack.recorded("start_coherence_daemon"), fake_stack.recorded("start_llm_insight")
    assert coherence["env"]["WILTON_COHERENCE_USERNAME"] == "ops"
    assert insight["env"]["WILTON_INSIGHT_USERNAME"] == "ops"
    # no insight password of its own: the coherence sidecar's, for the same user, through the environment
    assert insight["env"]["WILTON_INSIGHT_PASSWORD"] == env["WILTON_COHERENCE_PASSWORD"]
    assert env["WILTON_COHERENCE_PASSWORD"] not in up.stdout + up.stderr + " ".join(insight["argv"])
    assert env["WILTON_COHERENCE_PASSWORD"] not in (fake_stack.root / ".run/insight.log").read_text()


@pytest.mark.parametrize("extra", [{"WILTON_STACK_COHERENCE": "0", "WILTON_COHERENCE_PASSWORD": ""},
                                   {"WILTON_INSIGHT_USERNAME": "reader"}], ids=["no-coherence", "other-user"])
def test_stack_refuses_an_insight_sidecar_without_a_password(fake_stack: FakeStack, extra: dict[str, str]) -> None:
    """Not the development default admin/wilton, which the proxy refuses as UI_PASSWORD."""
    env = {k: v for k, v in STACK_ENV.items() if k != "WILTON_INSIGHT_PASSWORD"}
    up = fake_stack.run("up", {**env, "PROXY_PORT": str(_free_port()), **extra})
    assert up.returncode == 1, up.stdout
    assert "refusing to start" in up.stderr and "WILTON_INSIGHT_PASSWORD" in up.stderr
    assert not (fake_stack.root / ".run/proxy.json").exists()


def _readme_stack_exports() -> str:
    """The `export` lines of README's `make up` recipe."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### A long-running local stack"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    return "\n".join(line for line in block.splitlines() if line.startswith("export "))


def test_the_readme_recipe_starts_both_sidecars_with_a_login(fake_stack: FakeStack) -> None:
    exports = _readme_stack_exports()
    assert "UI_PASSWORD" in exports
    result = subprocess.run(["bash", "-c", f'{exports}\nexport PROXY_PORT={_free_port()}\nexec "$0" up',
                             str(fake_stack.root / "scripts/stack.sh")],
                            capture_output=True, text=True, timeout=120, env=clean_env(WILTON_STACK_DASHBOARD="0"))
    assert result.returncode == 0, result.stderr
    ui = subprocess.run(["bash", "-c", f'{exports}\nprintf %s "$UI_USERNAME:$UI_PASSWORD"'], capture_output=True,
                        text=True, env=clean_env()).stdout
    for part, prefix in (("start_coherence_daemon", "WILTON_COHERENCE"), ("start_llm_insight", "WILTON_INSIGHT")):
        env = fake_stack.recorded(part)["env"]
        assert f"{env[f'{prefix}_USERNAME']}:{env[f'{prefix}_PASSWORD']}" == ui, part


def test_stack_status_and_bad_action() -> None:
    status = subprocess.run([str(ROOT / "scripts/stack.sh"), "status"], capture_output=True, text=True, timeout=60,
                            env=clean_env())
    assert status.returncode == 0, status.stderr
    assert re.search(r"^proxy\s", status.stdout, re.M)
    bad = subprocess.run([str(ROOT / "scripts/stack.sh"), "sideways"], capture_output=True, text=True, env=clean_env())
    assert bad.returncode == 1 and "expected up, down or status" in bad.stderr


def test_makefile_has_up_down_status() -> None:
    text = (ROOT / "Makefile").read_text()
    for target, command in (("up", "scripts/stack.sh up"), ("down", "scripts/stack.sh down"),
                            ("status", "scripts/stack.sh status")):
        assert re.search(rf"^{target}:.*\n\t{re.escape(command)}$", text, re.M), target
