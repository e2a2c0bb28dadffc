"""Example ``general_settings.custom_auth`` for a proxy without a database: tokens → teams.

    general_settings:
      custom_auth: custom_auth_teams.user_api_key_auth

Set ``WILTON_TEAM_TOKENS`` to ``token1=team-a:0.9,token2=team-b`` (team id, optional φ target).
A token not listed is rejected with 401. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os

from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth


def _table(raw: str) -> dict[str, tuple[str, float | None]]:
    table: dict[str, tuple[str, float | None]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        token, _, team = item.partition("=")
        team_id, _, target = team.partition(":")
        if not token or not team_id:
            raise ValueError("WILTON_TEAM_TOKENS entries look like token=team[:target]")
        table[token] = (team_id, float(target) if target else None)
    return table


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """Authenticate ``api_key`` against WILTON_TEAM_TOKENS and attach its team."""
    for token, (team_id, target) in _table(os.environ.get("WILTON_TEAM_TOKENS", "")).items():
        if hmac.compare_digest(token.encode(), api_key.encode()):
            metadata = {"wilton_phi_target": target} if target is not None else {}
            return UserAPIKeyAuth(api_key=api_key, team_id=team_id, team_metadata=metadata)
    raise HTTPException(status_code=401, detail="unknown key")
