"""The running plugin: holds the settings, the state store and the statistics, and turns LiteLLM's
request data into the core's plain facts and back.

It is the one place that knows both sides: ``strategy.py`` and ``proxy.py`` call it with LiteLLM
objects; it calls the pure core with dataclasses. Every method that runs on a request's path is
guarded by its caller (``fail open``): an exception here is logged once with context, counted in
``wilton_plugin_errors_total`` and the request is routed as LiteLLM would have routed it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wilton_plugin.core.balancer import FRONTIER, LOCAL, ScoreQuantiles
from wilton_plugin.core.engine import GLOBAL_DEBT, Decision, RequestFacts, base_target, decide, target_for
from wilton_plugin.core.scorer import make_scorer
from wilton_plugin.core.selector import Candidate
from wilton_plugin.core.stats import Ewma
from wilton_plugin.core.window import WindowTotals
from wilton_plugin.decision_log import DecisionLog, DecisionRecord
from wilton_plugin.errors import ConfigError
from wilton_plugin.metrics import Metrics, Outcome
from wilton_plugin.settings import LOCAL_TIERS, TIERS, DeploymentSpec, WiltonSettings, parse_deployment
from wilton_plugin.state import RedisStore
from wilton_plugin.state_local import LocalStore, Record

log = logging.getLogger("wilton")

TIER_HEADER = "x-wilton-tier"
MAX_PENDING_DECISIONS = 10_000
MAX_UNDONE_DECISIONS = 1_000  # decisions failed() undid, kept in case their success event comes after
DEFAULT_OUTPUT_TOKENS = 256.0
RECENT_SERVED = 1000  # per-worker tier counts and φ shown by GET /wilton/status


@dataclass
class Pending:
    """A decision waiting for its outcome (success/failure callback) and its response headers."""

    decision: Decision
    model_group: str
    weight: float
    token_scale: float  # tokens per work unit used for the estimate (tokens unit), else 1
    phi: float | None  # window φ when decided
    deltas: Mapping[str, float] = field(default_factory=dict)
    score: float | None = None  # difficulty, for the decision log
    team_id: str | None = None
    prompt: str | None = None  # only when decision_log_prompts is on


class WiltonService:
    """Routing decisions and their bookkeeping for one proxy worker."""

    def __init__(
        self,
        settings: WiltonSettings,
        groups: Mapping[str, Sequence[DeploymentSpec]],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.groups = dict(groups)
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()
        self.scorer = make_scorer(settings.scorer.name, settings.scorer.artifact)
        self.store: LocalStore | RedisStore = LocalStore(settings, clock)
        self._watch_runtime(self.store)
        self.latency = Ewma(settings.selector.latency_ewma_alpha)
        self.tokens = Ewma(0.05)  # mean total tokens per request, per model group
        self.quantiles: dict[str, ScoreQuantiles] = {}
        self.specs: dict[str, DeploymentSpec] = {}
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        # Decisions undone by failed(), by call id, most recent last: LiteLLM can run the failure hook
        # (e.g. an output guardrail raising after a success) before the same call's queued success event.
        self.undone: OrderedDict[str, Pending] = OrderedDict()
        self._logged: set[tuple[str, str]] = set()
        self.last_totals = WindowTotals()
        self.recent_served: deque[tuple[str, float]] = deque(maxlen=RECENT_SERVED)  # (tier, work), admin status
        self.decisions = DecisionLog(settings.decision_log_size, settings.decision_log_prompts)  # GET /wilton/decisions

    # --- wiring ---------------------------------------------------------------------------

    def bind(self, model_list: Sequence[Mapping[str, Any]], redis_client: Any | None) -> None:
        """Index the router's deployments by id and choose the state store."""
        self.specs = {}
        for deployment in model_list:
            spec = self.spec_of(deployment)
            if spec is not None and spec.deployment_id is not None:
                self.specs[spec.deployment_id] = spec
        if self.metrics is not None:
            self.metrics.declare([spec for specs in self.groups.values() for spec in specs] + list(self.specs.values()),
                                 self.settings.phi_unit)
        if redis_client is not None and not isinstance(self.store, RedisStore):
            self.store = RedisStore(self.settings, redis_client, self.clock, metrics=self.metrics)
            self._watch_runtime(self.store)
            log.info("wilton: φ window and runtime settings shared through Redis")
        self._show_target()

    def _show_target(self) -> None:
        """``wilton_phi_target`` from the runtime settings this worker last saw (no I/O)."""
        if self.metrics is not None:
            self.metrics.phi_target.set(base_target(self.settings, self.store.runtime_hint()))

    def _watch_runtime(self, store: LocalStore | RedisStore) -> None:
        """Show the target again whenever ``store`` writes or reads the runtime settings (an admin PUT,
        GET /wilton/status, a routing snapshot), not only when this worker next routes a request."""
        store.watch_runtime(lambda runtime: self._show_target())

    def spec_of(self, deployment: Mapping[str, Any]) -> DeploymentSpec | None:
        """The spec of a deployment dict, or None if Wilton does not manage it.

        The config file's deployments were checked at start-up; one added at run time (LiteLLM's
        ``/model/new``) with a bad ``wilton_tier`` is left to LiteLLM: logged once per deployment,
        counted under the ``deployment`` stage on every look-up.
        """
        try:
            return parse_deployment(deployment)
        except ConfigError as exc:
            info = deployment.get("model_info")
            name = str(info.get("id") if isinstance(info, Mapping) else None)
            if self.metrics is not None:
                self.metrics.errors.labels(stage="deployment").inc()
            if ("deployment", name) not in self._logged:
                self._logged.add(("deployment", name))
                log.error("wilton: deployment id=%s of '%s' is not managed: %s", name, deployment.get("model_name"), exc)
            return None

    def manages(self, model_group: str) -> bool:
        """True when this model group is balanced by Wilton."""
        return model_group in self.groups

    # --- the request path -----------------------------------------------------------------

    async def route(
        self,
        model_group: str,
        healthy: Sequence[dict[str, Any]],
        messages: Sequence[Mapping[str, Any]] | None,
        request_kwargs: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Choose one of LiteLLM's healthy deployments and record the decision."""
        by_key: dict[str, dict[str, Any]] = {}
        candidates: list[Candidate] = []
        for deployment in healthy:
            candidate = self._candidate(deployment)
            if candidate is not None:
                by_key[candidate.key] = deployment
                candidates.append(candidate)
        if not candidates:
            raise LookupError(f"no Wilton-managed deployment among {len(healthy)} healthy ones of '{model_group}'")

        metadata = request_metadata(request_kwargs)
        call_id = str(request_kwargs.get("litellm_call_id") or "")
        weight, token_scale = self._weight(model_group, messages, request_kwargs)
        score = self.scorer.score(messages)
        team_target = self._team_target(metadata)
        excluded = _failed_deployments(metadata)
        facts = RequestFacts(
            model_group=model_group,
            weight=weight,
            score=score,
            forced_tier=self._forced_tier(metadata),
            team_id=_owner(metadata, team_target),
            team_target=team_target,
            excluded=excluded,
        )
        # A retry of this call (LiteLLM lists the attempts that failed): the earlier attempt's debt change
        # is undone. Without that list the id is only reused by a client (x-litellm-call-id): a new request.
        previous = self.pending.pop(call_id, None) if call_id and _is_retry(metadata) else None
        _, debt_key, _ = target_for(facts, self.settings, self.store.runtime_hint())
        snapshot = await self.store.snapshot(tuple({debt_key, GLOBAL_DEBT}))
        if previous is not None:  # a retry: the earlier attempt's debt change is undone first
            debts = {k: v - previous.deltas.get(k, 0.0) for k, v in snapshot.debts.items()}
        else:
            debts = dict(snapshot.debts)
        quantiles = self.quantiles.get(model_group)
        if quantiles is None:
            quantiles = self.quantiles[model_group] = ScoreQuantiles(uniform_prior=self.scorer.uniform)
        decision = decide(facts, candidates, debts, self.settings, snapshot.runtime, quantiles, self.rng)
        quantiles.add(score)

        deltas = dict(decision.deltas)
        if previous is not None:
            for key, delta in previous.deltas.items():
                deltas[key] = deltas.get(key, 0.0) - delta
        await self.store.record(Record(self.clock(), deltas, 0.0, 0.0))
        if call_id:
            self._remember(call_id, Pending(decision, model_group, weight, token_scale, self.last_totals.phi, decision.deltas,
                                            score, facts.team_id, self.decisions.prompt_of(messages)))
        if self.metrics is not None:
            self.metrics.decisions.labels(tier=decision.tier, reason=decision.reason).inc()
        return by_key[decision.deployment.key]

    def headers(self, call_id: str) -> dict[str, str]:
        """Response headers for a decided request: tier, observed φ, reason."""
        pending = self.pending.get(call_id)
        if pending is None:
            return {}
        headers = {"x-wilton-tier": pending.decision.tier, "x-wilton-reason": pending.decision.reason}
        if pending.phi is not None:  # nothing served yet in the window: no share to report
            headers["x-wilton-phi"] = f"{pending.phi:.4f}"
        return headers

    async def served(self, outcome: Outcome) -> None:
        """A request finished: count it, and on success put its work in the φ window and learn from it."""
        pending = self.pending.pop(outcome.call_id, None)
        reapply: Mapping[str, float] = {}
        if pending is None and outcome.success:
            # served after all: failed() ran first and undid the debt change; it is given back below
            pending = self.undone.pop(outcome.call_id, None)
            reapply = pending.deltas if pending is not None else {}
        spec = self.specs.get(outcome.deployment_id or "")
        if spec is None:
            if reapply:
                await self.store.record(Record(self.clock(), dict(reapply), 0.0, 0.0))
            if pending is not None and not outcome.success and pending.deltas:
                await self._undo(pending)
            return
        if self.metrics is not None:
            self.metrics.observe(outcome, spec)
        self._log_decision(outcome, spec, pending)
        if not outcome.success:
            if pending is not None and pending.deltas:
                await self._undo(pending)
            return
        if outcome.latency_s is not None and outcome.deployment_id and not outcome.cache_hit:
            self.latency.update(outcome.deployment_id, outcome.latency_s)
        group = pending.model_group if pending else spec.model_group
        tokens = outcome.tokens
        if tokens > 0:
            self.tokens.update(group, float(tokens))
        work = float(tokens) if self.settings.phi_unit == "tokens" else 1.0
        deltas: dict[str, float] = {}
        if pending is not None and self.settings.phi_unit == "tokens" and pending.token_scale > 0:
            actual = tokens / pending.token_scale
            scale = actual / pending.weight if pending.weight > 0 else 0.0
            deltas = {k: v * (scale - 1.0) for k, v in pending.deltas.items()}
        for key, delta in reapply.items():
            deltas[key] = deltas.get(key, 0.0) + delta
        self.recent_served.append((spec.tier, work))
        totals = await self.store.record(Record(self.clock(), deltas, work if spec.is_local else 0.0, work))
        self._observe(totals)

    async def failed(self, call_id: str) -> None:
        """A request failed for good (after its retries): the last attempt's debt change is undone, once.

        The decision is remembered (the last MAX_UNDONE_DECISIONS): if its success event comes after all
        (LiteLLM's failure hook can run before the queued success of a call it then failed, e.g. an output
        guardrail), ``served`` gives the debt change back, so both orders leave the same debts and window.
        """
        pending = self.pending.pop(call_id, None)
        if pending is not None and pending.deltas:
            await self._undo(pending)
            _keep(self.undone, call_id, pending, MAX_UNDONE_DECISIONS)

    async def _undo(self, pending: Pending) -> None:
        """The work was served nowhere: give its debt change back (a retry decides afresh)."""
        await self.store.record(Record(self.clock(), {k: -v for k, v in pending.deltas.items()}, 0.0, 0.0))

    def error(self, stage: str, exc: BaseException, context: str = "") -> None:
        """Log an exception once per (stage, type) with context, and count every occurrence."""
        if self.metrics is not None:
            self.metrics.errors.labels(stage=stage).inc()
        key = (stage, type(exc).__name__)
        if key not in self._logged:
            self._logged.add(key)
            log.error("wilton: %s failed (%s: %s)%s; routing as LiteLLM would", stage, type(exc).__name__, exc,
                      f" [{context}]" if context else "", exc_info=exc)

    # --- helpers --------------------------------------------------------------------------

    def _log_decision(self, outcome: Outcome, spec: DeploymentSpec, pending: Pending | None) -> None:
        self.decisions.add(DecisionRecord(
            time=self.clock(), model_group=pending.model_group if pending else spec.model_group, tier=spec.tier,
            deployment=outcome.deployment_id, reason=pending.decision.reason if pending else None,
            difficulty=pending.score if pending else None, latency_s=outcome.latency_s,
            input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens, cost_usd=outcome.cost_usd,
            team_id=pending.team_id if pending else None, status="success" if outcome.success else "failure",
            prompt=pending.prompt if pending else None,
        ))

    def _observe(self, totals: WindowTotals) -> None:
        self.last_totals = totals
        if self.metrics is not None and totals.phi is not None:
            self.metrics.phi.labels(unit=self.settings.phi_unit).set(totals.phi)

    def _candidate(self, deployment: Mapping[str, Any]) -> Candidate | None:
        info = deployment.get("model_info") or {}
        key = info.get("id")
        if key is None:
            return None
        spec = self.specs.get(key)
        if spec is None:
            spec = self.spec_of(deployment)
            if spec is None:
                return None
            self.specs[key] = spec
        return Candidate(
            key=key,
            tier=spec.tier,
            is_local=spec.is_local,
            phi_score=spec.phi_score,
            cost_per_token=spec.input_cost_per_token + spec.output_cost_per_token,
            latency_s=self.latency.get(key),
        )

    def _weight(
        self, model_group: str, messages: Sequence[Mapping[str, Any]] | None, request_kwargs: Mapping[str, Any]
    ) -> tuple[float, float]:
        if self.settings.phi_unit != "tokens":
            return 1.0, 1.0
        chars = sum(len(m.get("content") or "") for m in messages or () if isinstance(m.get("content"), str))
        max_tokens = request_kwargs.get("max_tokens") or request_kwargs.get("max_completion_tokens")
        output = float(max_tokens) if isinstance(max_tokens, int | float) and max_tokens > 0 else DEFAULT_OUTPUT_TOKENS
        estimate = chars / 4.0 + min(output, self.tokens.get(model_group) or output)
        scale = self.tokens.get(model_group) or estimate or 1.0
        return max(estimate / scale, 1e-3), scale

    def _forced_tier(self, metadata: Mapping[str, Any]) -> str | None:
        for source in ("user_api_key_metadata", "user_api_key_team_metadata"):
            value = (metadata.get(source) or {}).get("wilton_tier")
            if isinstance(value, str) and (value in TIERS or value == "local"):
                return value
        if self.settings.allow_tier_header:
            asked = header_tier(metadata.get("headers") or {})
            if asked is not None and valid_header_tier(asked):
                return asked
        return None

    def _team_target(self, metadata: Mapping[str, Any]) -> float | None:
        for source in ("user_api_key_metadata", "user_api_key_team_metadata"):
            value = (metadata.get(source) or {}).get("wilton_phi_target")
            if value is None:
                continue
            try:
                target = math.nan if isinstance(value, bool) else float(value)  # true is not 1.0
            except (TypeError, ValueError):
                target = math.nan
            if math.isfinite(target) and 0.0 <= target <= 1.0:
                return target
            self.error("pre_call", ValueError(f"{source}.wilton_phi_target={value!r} is not in [0, 1]"))
        return None

    def _remember(self, call_id: str, pending: Pending) -> None:
        _keep(self.pending, call_id, pending, MAX_PENDING_DECISIONS)


def _keep(decisions: OrderedDict[str, Pending], call_id: str, pending: Pending, limit: int) -> None:
    """Add a decision, dropping the oldest past ``limit``."""
    decisions[call_id] = pending
    while len(decisions) > limit:
        decisions.popitem(last=False)


def header_tier(headers: object) -> str | None:
    """The tier a caller asks for in ``x-wilton-tier`` (case-insensitive name), or None."""
    if not isinstance(headers, Mapping):  # a caller's own ``metadata.headers`` can be anything
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == TIER_HEADER and isinstance(value, str):
            return value.strip().lower()
    return None


def valid_header_tier(value: str) -> bool:
    """True for a tier a caller may ask for."""
    return value in TIERS or value == "local"


def side_of_tier(tier: str) -> str:
    """local or frontier."""
    return LOCAL if tier in LOCAL_TIERS else FRONTIER


def request_metadata(request_kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """LiteLLM's metadata of a request: ``litellm_metadata`` when the request has one (``/v1/messages``,
    ``/v1/responses``: ``metadata`` is then the caller's own), else ``metadata`` (LiteLLM's
    ``get_metadata_variable_name_from_kwargs`` rule)."""
    value = request_kwargs.get("litellm_metadata" if "litellm_metadata" in request_kwargs else "metadata")
    return value if isinstance(value, Mapping) else {}


def _is_retry(metadata: Mapping[str, Any]) -> bool:
    previous = metadata.get("previous_models")
    return isinstance(previous, list | tuple) and len(previous) > 0


def _owner(metadata: Mapping[str, Any], target: float | None) -> str | None:
    """Whose target and debt a request counts in: its team, else its key when the key sets a target.

    A key without a team is named ``key:`` + 16 hex digits of a SHA-256 of LiteLLM's ``user_api_key``
    (itself a hash of the key, but the master key can be in clear there), never by the key itself.
    """
    team = _str_or_none(metadata.get("user_api_key_team_id"))
    if team is not None or target is None:
        return team
    key = _str_or_none(metadata.get("user_api_key"))
    return f"key:{hashlib.sha256(key.encode()).hexdigest()[:16]}" if key is not None else None


def _failed_deployments(metadata: Mapping[str, Any]) -> frozenset[str]:
    previous = metadata.get("previous_models") or ()
    ids = set()
    for attempt in previous if isinstance(previous, list | tuple) else ():
        if isinstance(attempt, Mapping) and isinstance(attempt.get("deployment_id"), str):
            ids.add(attempt["deployment_id"])
    return frozenset(ids)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
