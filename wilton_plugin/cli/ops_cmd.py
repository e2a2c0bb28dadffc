"""``wiltonctl status``, ``target set``, ``weights show|set``: the proxy's admin API from the shell."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from wilton_plugin.cli.argtypes import seconds
from wilton_plugin.errors import WiltonError

DEFAULT_PROXY_URL = "http://127.0.0.1:4000"
AUTH_HELP = ("Auth: --username with --password/--password-file (POST /wilton/token), or --api-key (LiteLLM's "
             "master key). Environment: WILTON_PROXY_URL, WILTON_ADMIN_USERNAME, WILTON_ADMIN_PASSWORD, "
             "WILTON_ADMIN_PASSWORD_FILE, LITELLM_MASTER_KEY. Errors (401, 403, 422, unreachable proxy) are one "
             "line and exit 1.")


class AdminError(WiltonError):
    """An admin API call failed; one line."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proxy-url", default=None, help=f"proxy base URL (env WILTON_PROXY_URL; default {DEFAULT_PROXY_URL})")
    parser.add_argument("--username", default=None, help="admin user (env WILTON_ADMIN_USERNAME)")
    parser.add_argument("--password", default=None, help="admin password (env WILTON_ADMIN_PASSWORD); visible in the process list, prefer the file")
    parser.add_argument("--password-file", default=None, metavar="PATH", help="read the password from a file (env WILTON_ADMIN_PASSWORD_FILE)")
    parser.add_argument("--api-key", default=None, help="LiteLLM master key instead of a user (env LITELLM_MASTER_KEY)")
    parser.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS", help="HTTP timeout, > 0 (default 10)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``status``, ``target set`` and ``weights show|set``."""
    status = subparsers.add_parser("status", help="the proxy's phi, target, weights and last changes",
                                   description="GET /wilton/status. " + AUTH_HELP)
    _common(status)
    status.set_defaults(func=_status)

    target = subparsers.add_parser("target", help="change the phi target", description="Change the phi target.")
    target_cmds = target.add_subparsers(dest="target_command", metavar="TARGET_COMMAND")
    target_set = target_cmds.add_parser(
        "set", help="set the global or a team's phi target",
        description="PUT /wilton/target. VALUE is the local share in [0, 1], or 'reset' to go back to the config "
        "value (or to remove the team's override). " + AUTH_HELP)
    target_set.add_argument("value", help="phi target in [0, 1], or 'reset'")
    target_set.add_argument("--team", default=None, help="set this team's target instead of the global one")
    _common(target_set)
    target_set.set_defaults(func=_target_set)
    target.set_defaults(func=lambda _a: _help(target))

    weights = subparsers.add_parser("weights", help="show or set deployment runtime weights",
                                    description="Deployment runtime weights and the phi bias.")
    weight_cmds = weights.add_subparsers(dest="weights_command", metavar="WEIGHTS_COMMAND")
    show = weight_cmds.add_parser("show", help="the weight overrides and the phi bias",
                                  description="GET /wilton/weights (deployments not listed weigh 1). " + AUTH_HELP)
    _common(show)
    show.set_defaults(func=_weights_show)
    wset = weight_cmds.add_parser(
        "set", help="set deployment weights and/or the phi bias",
        description="PUT /wilton/weights. Each ID=W sets deployment ID's weight (finite, >= 0; 0 takes it out); "
        "--bias sets phi_bias in [-0.5, 0.5]. An unknown deployment id is refused (422). " + AUTH_HELP)
    wset.add_argument("pairs", nargs="*", metavar="ID=W", help="deployment id and weight")
    wset.add_argument("--bias", type=float, default=None, help="phi_bias in [-0.5, 0.5]")
    _common(wset)
    wset.set_defaults(func=_weights_set)
    weights.set_defaults(func=lambda _a: _help(weights))


def _help(parser: argparse.ArgumentParser) -> int:
    import sys

    parser.print_help(sys.stderr)
    return 2


# --- HTTP ----------------------------------------------------------------------------------------


def _proxy_url(args: argparse.Namespace) -> str:
    return (args.proxy_url or os.environ.get("WILTON_PROXY_URL") or DEFAULT_PROXY_URL).rstrip("/")


def _password(args: argparse.Namespace) -> str | None:
    path = args.password_file or (None if args.password else os.environ.get("WILTON_ADMIN_PASSWORD_FILE"))
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise AdminError(f"cannot read the password file {path} ({exc.strerror})") from exc
    return args.password or os.environ.get("WILTON_ADMIN_PASSWORD")


def call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Authenticate as the flags say and make one admin API call; raises AdminError with one line."""
    import httpx

    url = _proxy_url(args)
    try:
        with httpx.Client(base_url=url, timeout=args.timeout) as client:
            token = _token(args, client)
            response = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            return _answer(response, f"{method} {path}")
    except httpx.HTTPError as exc:
        raise AdminError(f"cannot reach the proxy at {url} ({type(exc).__name__}); start it or pass --proxy-url") from exc


def _token(args: argparse.Namespace, client: Any) -> str:
    username = args.username or (None if args.api_key else os.environ.get("WILTON_ADMIN_USERNAME"))
    if username:
        password = _password(args)
        if not password:
            raise AdminError(f"no password for user {username!r}: pass --password-file or set WILTON_ADMIN_PASSWORD")
        answer = _answer(client.post("/wilton/token", json={"username": username, "password": password}), "login")
        return str(answer["access_token"])
    key = args.api_key or os.environ.get("LITELLM_MASTER_KEY")
    if not key:
        raise AdminError("no credentials: pass --username and --password-file, or --api-key (LITELLM_MASTER_KEY)")
    return key


def _answer(response: Any, what: str) -> dict[str, Any]:
    if response.status_code == 200:
        return response.json()
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # pydantic errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', ()))) or 'body'}: {d.get('msg')}" for d in detail)
    detail = " ".join(str(detail or response.text or "").split())[:300]
    hints = {401: "check the username/password or key", 403: "the user lacks the scope (needs wilton:write to change)",
             422: "nothing was changed", 429: f"retry after {response.headers.get('retry-after', '?')} s"}
    hint = hints.get(response.status_code)
    raise AdminError(f"{what} refused: HTTP {response.status_code} {detail}" + (f" ({hint})" if hint else ""))


# --- commands ------------------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    status = call(args, "GET", "/wilton/status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    phi = status.get("phi") or {}
    window = status.get("window") or {}
    print(f"phi target   {status['phi_target']:.3f} (bias {status.get('phi_bias', 0):+.3f}, unit {status.get('unit')})")
    print(f"phi global   {_fmt(phi.get('global'))}   replica {_fmt(phi.get('replica'))}")
    print(f"window       {window.get('kind')} {window.get('size')}: {window.get('count')} served, "
          f"{window.get('local')} of {window.get('total')} local work")
    tiers = status.get("tiers") or {}
    print("tiers        " + (", ".join(f"{t} {n}" for t, n in tiers.items()) or "-"))
    print("weights      " + (", ".join(f"{d}={w:g}" for d, w in sorted((status.get("weights") or {}).items())) or "all 1"))
    teams = status.get("team_targets") or {}
    print("team targets " + (", ".join(f"{t}={v:g}" for t, v in sorted(teams.items())) or "-"))
    print(f"shared state {'redis' if status.get('shared_state') else 'none (this worker only)'}")
    for change in (status.get("last_changes") or [])[:5]:
        print(f"change       {change.get('who')}: {change.get('what')} {change.get('old')} -> {change.get('new')}")
    return 0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _target_set(args: argparse.Namespace) -> int:
    if args.value.lower() in ("reset", "none", "null"):
        value = None
    else:
        try:
            value = float(args.value)
        except ValueError:
            raise AdminError(f"target value {args.value!r}: expected a number in [0, 1] or 'reset'") from None
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise AdminError(f"target value {args.value!r}: expected a number in [0, 1] or 'reset'")
    answer = call(args, "PUT", "/wilton/target", {"phi_target": value, "team": args.team})
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        who = f"team {answer['team']!r}" if answer.get("team") else "global"
        print(f"{who} phi target: {_fmt(answer.get('previous'))} -> {_fmt(answer.get('phi_target'))}")
    return 0


def _print_weights(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    weights = answer.get("weights") or {}
    for deployment, weight in sorted(weights.items()):
        print(f"{deployment}  {weight:g}")
    if not weights:
        print("no weight overrides (every deployment weighs 1)")
    print(f"phi_bias  {answer.get('phi_bias', 0):+g}")


def _weights_show(args: argparse.Namespace) -> int:
    _print_weights(call(args, "GET", "/wilton/weights"), args.json)
    return 0


def _weights_set(args: argparse.Namespace) -> int:
    weights: dict[str, float] = {}
    for pair in args.pairs:
        name, sep, text = pair.rpartition("=")
        try:
            weight = float(text)
        except ValueError:
            weight = math.nan
        if not sep or not name or not math.isfinite(weight) or weight < 0:
            raise AdminError(f"weight {pair!r}: expected ID=W with W a finite number >= 0")
        weights[name] = weight
    if not weights and args.bias is None:
        raise AdminError("nothing to set: give ID=W pairs and/or --bias")
    body: dict[str, Any] = {}
    if weights:
        body["weights"] = weights
    if args.bias is not None:
        body["phi_bias"] = args.bias
    _print_weights(call(args, "PUT", "/wilton/weights", body), args.json)
    return 0
