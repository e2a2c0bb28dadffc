"""Per-team targets through key/team metadata, without a database (custom_auth example hook)."""

from __future__ import annotations

import shutil
from pathlib import Path

import openai
import pytest

from helpers import chat, local_flags
from wilton_plugin.devstack import ProxyProcess, write_config

pytestmark = pytest.mark.proxy

HOOK = Path(__file__).resolve().parent.parent / "hooks" / "custom_auth_teams.py"
TOKENS = "sk-team-legal-0001=legal:0.9,sk-team-web-0001=web"


def test_a_team_target_holds_for_that_team_while_the_global_share_holds(proxies, tmp_path):
    config = proxies.config()
    config["general_settings"]["custom_auth"] = "custom_auth_teams.user_api_key_auth"
    shutil.copy(HOOK, tmp_path / "custom_auth_teams.py")
    proxy = ProxyProcess(write_config(config, tmp_path), env={"WILTON_TEAM_TOKENS": TOKENS})
    with proxy:
        legal = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-team-legal-0001", max_retries=0)
        web = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-team-web-0001", max_retries=0)
        legal_out, web_out = [], []
        for i in range(200):
            legal_out.append(chat(legal, i))
            web_out.append(chat(web, i))
        with pytest.raises(openai.AuthenticationError):
            chat(openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-unknown-0001", max_retries=0), 0)
        log = proxy.log_text()
    legal_share = sum(local_flags(legal_out)) / 200
    overall = (sum(local_flags(legal_out)) + sum(local_flags(web_out))) / 400
    web_share = sum(local_flags(web_out)) / 200
    print(f"teams: legal {legal_share:.3f} (target 0.9), web {web_share:.3f}, overall {overall:.4f} (target 0.75)")
    assert abs(legal_share - 0.9) <= 0.01
    assert {o.reason for o in legal_out} <= {"team"}
    assert abs(overall - 0.75) <= 0.01
    assert "sk-team-legal-0001" not in log and "sk-team-web-0001" not in log
