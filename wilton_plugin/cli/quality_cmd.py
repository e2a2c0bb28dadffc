"""``wiltonctl train-scorer`` and ``wiltonctl bench quality|phi|cv``: the learned scorer and its proof.

Replays go through ``WiltonService.route`` (see ``wilton_plugin.replay``); the router sees the
prompts only, the ``local``/``frontier`` columns are read afterwards to score the outcome.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from wilton_plugin.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-scorer`` and ``bench`` (``quality``, ``phi``, ``cv``)."""
    train = subparsers.add_parser(
        "train-scorer",
        help="train the learned difficulty scorer from labelled CSVs",
        description="Fit the learned scorer (wilton_settings.scorer.name: learned) on CSVs with the columns "
        "prompt,local,frontier (other columns ignored; scores 1/0 or graded) and write its artifact "
        "(JSON), to be named in wilton_settings.scorer.artifact. Same data and seed: same bytes.",
    )
    train.add_argument("--data", action="append", required=True, metavar="FILE.csv", help="labelled CSV (repeatable)")
    train.add_argument("--out", required=True, metavar="ARTIFACT", help="where to write the artifact (.json)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--l2", type=float, default=None, help="ridge penalty for every family, a finite number > 0 "
                       "(default 30 multiple-choice, 1000 word problems, 300 other)")
    train.set_defaults(func=_train)

    bench = subparsers.add_parser("bench", help="replay labelled prompts through the balancer", description="Replays "
                                  "through the proxy's own routing code (WiltonService.route), in file order.")
    benches = bench.add_subparsers(dest="bench", metavar="BENCH")
    quality = benches.add_parser(
        "quality",
        help="quality and PGR of the routing at a local target",
        description="Replay FILE.csv and report n, frontier_share, quality, local_quality, frontier_quality, "
        "pgr (performance gap recovered), with random and oracle baselines at the same frontier share.",
    )
    _common(quality)
    _scorer_options(quality)
    quality.set_defaults(func=_quality)
    phi = benches.add_parser(
        "phi",
        help="how exactly the local share is held",
        description="Replay FILE.csv and report overall_local_share, max_window_dev_pp (largest deviation of any "
        "--window consecutive requests), windows_outside_1pp and, with --outage, recovery_requests (requests "
        "after the outage's last one until every later window is within 1 pp; 0: already within when the outage "
        "ends) and repaid_requests (the same, until the balancer's debt is back in its band for good); null "
        "(\"never\") when that is not reached within the replay. See docs/quality.md.",
    )
    _common(phi)
    phi.add_argument("--window", type=int, default=500,
                     help="window length in requests, at most the requests replayed (default 500)")
    phi.add_argument("--outage", default=None, metavar="START:LEN",
                     help="local tier down for requests START..START+LEN-1 (0-based); it must end before the replay does")
    phi.add_argument("--requests", type=int, default=None, metavar="N",
                     help="replay N requests, starting the file over in order when it runs out (default: the file once)")
    _scorer_options(phi)
    phi.set_defaults(func=_phi)
    cv = benches.add_parser(
        "cv",
        help="cross-validated PGR of the learned scorer on groups it has not seen",
        description="Train the learned scorer on all but one fold of whole groups (--group-by column, e.g. "
        "subject, team) of every FILE.csv, score the held-out fold, repeat for each fold, then replay each "
        "file through the balancer and report its PGR with random and oracle baselines at the same share, "
        "and ranked_pgr (the held-out scores ranked offline, no balancer). A file with fewer groups than "
        "folds is split by rows. What to run on your own labelled traffic before shipping its artifact.",
    )
    cv.add_argument("--data", action="append", required=True, metavar="FILE.csv", help="labelled CSV (repeatable)")
    cv.add_argument("--group-by", default=None, metavar="COLUMN",
                    help="column whose values are held out whole (default: subject, when the file has it)")
    cv.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    cv.add_argument("--shuffle", action="store_true", help="also replay each file in a seeded shuffled order")
    cv.add_argument("--l2", type=float, default=None,
                    help="ridge penalty for every family, a finite number > 0 (default: train-scorer's)")
    cv.add_argument("--target", type=float, default=0.75, help="phi_target, the local share (default 0.75)")
    cv.add_argument("--seed", type=int, default=0, help="seed of the folds, the selector and the baselines (default 0)")
    cv.add_argument("--slack", type=float, default=None, help="balance.slack (default: Wilton's default, 2)")
    cv.add_argument("--json", action="store_true", help="print one JSON object")
    cv.set_defaults(func=_cv, max_debt=None, spill_policy=None, scorer="constant", artifact=None)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="FILE.csv", help="CSV with prompt,local,frontier")
    parser.add_argument("--target", type=float, default=0.75, help="phi_target, the local share (default 0.75)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the selector and baselines (default 0)")
    parser.add_argument("--slack", type=float, default=None, help="balance.slack (default: Wilton's default, 2)")
    parser.add_argument("--max-debt", type=float, default=None, help="balance.max_debt (default: Wilton's default, 50)")
    parser.add_argument("--spill-policy", choices=("compensate", "forgive"), default=None, help="spill_policy")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _scorer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scorer", default="learned", help="scorer name (default learned)")
    parser.add_argument("--artifact", default=None, help="scorer artifact (default: the shipped one)")


def _settings(args: argparse.Namespace):  # -> WiltonSettings
    from wilton_plugin.replay import replay_settings

    balance: dict[str, Any] = {}
    if args.slack is not None:
        balance["slack"] = args.slack
    if args.max_debt is not None:
        balance["max_debt"] = args.max_debt
    extra: dict[str, Any] = {"balance": balance}
    if args.spill_policy is not None:
        extra["spill_policy"] = args.spill_policy
    return replay_settings(args.target, args.scorer, args.artifact, extra)


def _l2(value: float | None) -> None:
    """``ConfigError`` unless ``--l2`` is unset or a finite number > 0 (0 leaves the ridge system singular)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError("--l2", value, "Expected a finite ridge penalty > 0 (default 30 multiple-choice, "
                                         "1000 word problems, 300 other).")


def _train(args: argparse.Namespace) -> int:
    from wilton_plugin.scoring.data import read_many
    from wilton_plugin.scoring.train import train

    _l2(args.l2)
    rows = read_many(args.data)
    model = train(rows, seed=args.seed, l2=args.l2, sources=[Path(p).name for p in args.data])
    Path(args.out).write_text(model.to_json(), encoding="utf-8")
    counts = ", ".join(f"{n} {name}" for name, n in model.info["rows_by_family"].items())
    print(f"{args.out}: learned scorer trained on {len(rows)} rows ({counts}) from {len(args.data)} file(s), "
          f"seed {args.seed}")
    return 0


def _quality(args: argparse.Namespace) -> int:
    from wilton_plugin.replay import quality_report, route_prompts
    from wilton_plugin.scoring.data import prompts_only, read_rows

    rows = read_rows(args.data)
    settings = _settings(args)
    sent = route_prompts(prompts_only(rows), settings, seed=args.seed)
    report = quality_report(rows, sent, seed=args.seed)
    report.update(scorer=args.scorer, target=args.target)
    if args.json:
        print(_json(report))
        return 0
    share = report["frontier_share"]
    print(f"{args.data}: {report['n']} prompts, scorer {args.scorer}, frontier share {share:.4f} (target {1 - args.target:.4f})")
    print(f"{'router':<22} {'quality':>8} {'PGR':>7}")
    for name, q, p in (
        ("all local", report["local_quality"], 0.0),
        (f"random @ {share:.0%}", report["random_quality"], report["random_pgr"]),
        (f"wilton ({args.scorer})", report["quality"], report["pgr"]),
        (f"oracle @ {share:.0%}", report["oracle_quality"], report["oracle_pgr"]),
        ("all frontier", report["frontier_quality"], 1.0),
    ):
        print(f"{name:<22} {q:>8.4f} {p:>7.3f}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    from wilton_plugin.crossval import cross_validate
    from wilton_plugin.scoring.data import read_rows

    _l2(args.l2)
    files = [(path, read_rows(path, args.group_by)) for path in args.data]
    reports = cross_validate(files, _settings(args), folds=args.folds, seed=args.seed, shuffle=args.shuffle, l2=args.l2)
    if args.json:
        print(_json({"folds": args.folds, "seed": args.seed, "target": args.target, "results": reports}))
        return 0
    print(f"learned scorer, {args.folds}-fold cross-validation (seed {args.seed}), target {args.target}")
    print(f"{'file':<32} {'order':<8} {'held out':<12} {'n':>6} {'share':>6} {'PGR':>6} {'ranked':>7} {'random':>7} {'oracle':>7}")
    for r in reports:
        held = f"{r['groups']} groups" if r["split"] == "groups" else "rows"
        print(f"{Path(r['file']).name:<32} {r['order']:<8} {held:<12} {r['n']:>6} {r['frontier_share']:>6.3f} "
              f"{r['pgr']:>6.3f} {r['ranked_pgr']:>7.3f} {r['random_pgr']:>7.3f} {r['oracle_pgr']:>7.3f}")
    return 0


def _phi(args: argparse.Namespace) -> int:
    from wilton_plugin.replay import phi_report, route_prompts
    from wilton_plugin.scoring.data import prompts_only, read_rows

    if args.window < 1:
        raise ConfigError("--window", args.window, "Expected a whole number of requests >= 1.")
    if args.requests is not None and args.requests < 1:
        raise ConfigError("--requests", args.requests, "Expected a whole number of requests >= 1.")
    outage = _outage(args.outage)
    rows = read_rows(args.data)
    if args.requests is not None:  # the file again from its start, in order: a sorted file drifts back
        rows = [rows[i % len(rows)] for i in range(args.requests)]
    n = len(rows)
    if args.window > n:
        raise ConfigError("--window", args.window, f"Expected at most the {n} requests replayed (--requests N "
                                                   "replays more), so that one window is complete.")
    if outage is not None and sum(outage) >= n:
        raise ConfigError("--outage", args.outage, f"Expected an outage that ends before the replay does: "
                                                   f"START + LEN < {n}, the requests replayed (--requests N replays more).")
    settings = _settings(args)
    debts: list[float] = []
    sent = route_prompts(prompts_only(rows), settings, seed=args.seed, outage=outage, debts=debts)
    report = phi_report(sent, args.target, args.window, outage, debts, settings.balance.slack).as_dict()
    report.update(max_debt=settings.balance.max_debt, slack=settings.balance.slack, spill_policy=settings.spill_policy)
    if args.json:
        print(_json(report))
        return 0
    for key, value in report.items():
        shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else value
        if value is None and key in ("recovery_requests", "repaid_requests"):
            shown = "never (not within the replay)"
        print(f"{key:<22} {shown}")
    return 0


def _json(value: Any) -> str:
    """Strict JSON: a value that is not a finite number (PGR when both models score the same) is null."""

    def finite(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        return v

    return json.dumps(finite(value), sort_keys=True, allow_nan=False)


def _outage(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    start, sep, length = text.partition(":")
    try:
        parsed = (int(start), int(length))
    except ValueError:
        parsed = (-1, -1)
    if not sep or parsed[0] < 0 or parsed[1] < 1:
        raise ConfigError("--outage", text, "Expected START:LEN, two whole numbers, LEN >= 1.")
    return parsed
