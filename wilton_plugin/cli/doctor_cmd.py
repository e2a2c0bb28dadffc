"""``wiltonctl doctor``: is everything a config needs there? Each problem on one line with its fix."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from wilton_plugin.cli.argtypes import seconds

ENV_PREFIX = "os.environ/"
OLLAMA_PREFIXES = ("ollama/", "ollama_chat/")
# providers whose key LiteLLM reads from the environment when litellm_params.api_key is absent
PROVIDER_KEYS = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                 "azure": "AZURE_API_KEY", "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check that every deployment, key and service a config needs is there",
        description="Validate the config (as validate-config), then check: each deployment reachable (Ollama: "
        "the host lists the model; OpenAI-compatible: GET {api_base}/models), keys set for frontier deployments "
        "(an os.environ/NAME whose variable is unset is a problem; key values are never printed), Redis "
        "(router_settings.redis_host/port or --redis-url) and Prometheus (--prometheus-url) reachable, and the "
        "proxy (--proxy-url) alive. Prints one line per check, each problem with its fix. Exit 0 when all good, "
        "1 otherwise.",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="the LiteLLM config file")
    parser.add_argument("--proxy-url", default=None, help="also check the proxy's /health/liveliness")
    parser.add_argument("--redis-url", default=None, help="Redis to check (default: router_settings.redis_host/port)")
    parser.add_argument("--prometheus-url", default=None, help="Prometheus to check (GET /-/ready)")
    parser.add_argument("--timeout", type=seconds, default=3.0, metavar="SECONDS",
                        help="per-check timeout, > 0 (default 3)")
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    import yaml

    from wilton_plugin.cli.config_cmd import check_config
    from wilton_plugin.errors import ConfigError

    problems: list[str] = []
    report = _Report(problems)
    try:
        check_config(args.config)
        report.ok(f"config {args.config} is valid")
        with open(args.config, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except ConfigError as exc:
        report.problem(f"config {args.config}: {exc}", "fix the file (wiltonctl validate-config shows the same line)")
        config = None
    if isinstance(config, Mapping):
        for index, deployment in enumerate(config.get("model_list") or []):
            if isinstance(deployment, Mapping):
                _check_deployment(index, deployment, report, args.timeout)
        _check_redis(config.get("router_settings") or {}, args.redis_url, report, args.timeout)
    elif args.redis_url:
        _check_redis({}, args.redis_url, report, args.timeout)
    if args.prometheus_url:
        _check_http("Prometheus", args.prometheus_url.rstrip("/") + "/-/ready", report, args.timeout,
                    "start Prometheus (./start_dashboard.sh) or correct --prometheus-url")
    if args.proxy_url:
        _check_http("proxy", args.proxy_url.rstrip("/") + "/health/liveliness", report, args.timeout,
                    "start the proxy (litellm --config FILE) or correct --proxy-url")
    print(f"doctor: {len(problems)} problem(s)" if problems else "doctor: all good")
    return 1 if problems else 0


class _Report:
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def ok(self, text: str) -> None:
        print(f"ok       {text}")

    def problem(self, text: str, fix: str) -> None:
        line = f"PROBLEM  {' '.join(text.split()).rstrip('.')}. Fix: {fix.rstrip('.')}."
        self.problems.append(line)
        print(line)


def _resolve(value: Any) -> tuple[Any, str | None]:
    """(value, None) or, for ``os.environ/NAME``, (the variable's value or None, NAME)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        return os.environ.get(name) or None, name
    return value, None


def _check_deployment(index: int, deployment: Mapping[str, Any], report: _Report, timeout: float) -> None:
    params = deployment.get("litellm_params") or {}
    info = deployment.get("model_info") or {}
    model = str(params.get("model") or "")
    name = f"deployment {info.get('id') or index} ({deployment.get('model_name')}: {model})"
    api_base, base_var = _resolve(params.get("api_base"))
    if base_var and api_base is None:
        report.problem(f"{name}: api_base comes from ${base_var}, which is unset", f"export {base_var}=http://HOST:PORT")
        return
    api_key, key_var = _resolve(params.get("api_key"))
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    if info.get("wilton_tier") == "frontier":
        if key_var and api_key is None:
            report.problem(f"{name}: api_key comes from ${key_var}, which is unset",
                           f"export {key_var}=<your key> before starting the proxy")
            return
        if params.get("api_key") is None and provider in PROVIDER_KEYS and not os.environ.get(PROVIDER_KEYS[provider]):
            report.problem(f"{name}: no api_key and ${PROVIDER_KEYS[provider]} is unset",
                           f"export {PROVIDER_KEYS[provider]}=<your key> or set litellm_params.api_key: "
                           f"os.environ/{PROVIDER_KEYS[provider]}")
            return
    if model.startswith(OLLAMA_PREFIXES):
        _check_ollama(name, model.split("/", 1)[1], api_base or "http://127.0.0.1:11434", report, timeout)
    elif api_base or provider == "openai":
        base = str(api_base or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        _check_http(name, f"{base}/models", report, timeout, "start the server or correct litellm_params.api_base",
                    headers=headers)
    else:
        report.ok(f"{name}: hosted provider {provider!r}, not probed" + (" (key set)" if api_key else ""))


def _check_ollama(name: str, wanted: str, host: str, report: _Report, timeout: float) -> None:
    import ollama

    try:
        listed = ollama.Client(host=host, timeout=timeout).list()
    except Exception as exc:  # the ollama client raises httpx, ConnectionError or ResponseError
        report.problem(f"{name}: Ollama at {host} does not answer ({type(exc).__name__})",
                       "start Ollama (ollama serve) or correct litellm_params.api_base")
        return
    names = {str(getattr(m, "model", None) or "") for m in getattr(listed, "models", [])}
    aliases = names | {n.removesuffix(":latest") for n in names}
    if wanted in aliases or f"{wanted}:latest" in names:
        report.ok(f"{name}: Ollama at {host} serves {wanted}")
    else:
        report.problem(f"{name}: Ollama at {host} does not have model {wanted!r} (has: {', '.join(sorted(names)) or 'none'})",
                       f"ollama pull {wanted}")


def _check_http(name: str, url: str, report: _Report, timeout: float, fix: str,
                headers: dict[str, str] | None = None) -> None:
    import httpx

    try:
        response = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        report.problem(f"{name}: {url} does not answer ({type(exc).__name__})", fix)
        return
    if response.status_code in (401, 403):
        report.problem(f"{name}: {url} refused the key (HTTP {response.status_code})", "set a valid key")
    elif response.status_code >= 400:
        report.problem(f"{name}: {url} answered HTTP {response.status_code}", fix)
    else:
        report.ok(f"{name}: {url} answers")


def _check_redis(router: Mapping[str, Any], url: str | None, report: _Report, timeout: float) -> None:
    import redis

    if url:
        try:
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        except ValueError as exc:  # a scheme, port or option redis-py cannot read
            report.problem(f"Redis: --redis-url is not a Redis URL ({_without_userinfo(str(exc), url).rstrip('.')})",
                           "give it as redis://[:PASSWORD@]HOST:PORT[/DB] (or rediss://, unix:///PATH)")
            return
        kwargs = client.connection_pool.connection_kwargs  # never print the URL: it may hold a password
        if "path" in kwargs:
            where = f"unix:{kwargs['path']}"
        else:
            where = f"{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}"
    else:
        host, host_var = _resolve(router.get("redis_host"))
        port, port_var = _resolve(router.get("redis_port", 6379))
        if host is None and host_var is None:
            return  # no Redis configured: nothing to check
        if host is None or port is None:
            var = host_var if host is None else port_var
            report.problem(f"Redis: router_settings uses ${var}, which is unset", f"export {var}=...")
            return
        password, _ = _resolve(router.get("redis_password"))
        where = f"{host}:{port}"
        try:
            client = redis.Redis(host=str(host), port=int(port), password=password, socket_timeout=timeout,
                                 socket_connect_timeout=timeout)
        except ValueError:
            report.problem(f"Redis: port {port!r} is not a number", "fix router_settings.redis_port")
            return
    try:
        client.ping()
        report.ok(f"Redis at {where} answers PING")
    except redis.RedisError as exc:
        report.problem(f"Redis at {where} does not answer ({type(exc).__name__})",
                       "start redis-server or correct router_settings.redis_host/redis_port (or --redis-url)")
    finally:
        client.close()


def _without_userinfo(text: str, url: str) -> str:
    """``text`` with the URL's user:password part (between :// and its last @) masked."""
    userinfo = url.split("://", 1)[-1].rpartition("@")[0]
    return text.replace(userinfo, "***") if userinfo else text
