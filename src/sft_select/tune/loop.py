"""The closed loop: pick S maximizing f(S) (a proxy model's validation score) under |S| ≤ N.

Each round searches the view weights at the current τ, then sweeps τ at the best weights. The
validation file is split first: the search sees only its `tune` part; the `holdout` part is read once at
the end, to report f of the chosen S, of random subsets of the same size and of the whole pool on data
the search never saw (the guard against overfitting the validation file).

tune.json (schema version 1; every `f` is higher-is-better: accuracy, macro-F1 or −loss):
  version: 1
  proxy: {name, metric, ...settings}            metric names what f is ("accuracy", "macro_f1", "-loss")
  validation: {path, tune, holdout, seed}       sizes of the two parts
  pool: {candidates, cap}                       candidates after preprocessing; cap = N
  views: [view names searched over]
  initial: {weights, threshold, size, f, f_holdout, metrics_holdout}   the config as given, untuned
  trace: [point]                                every configuration evaluated, in order
  curve: [point]                                the τ sweep points of the last round (the f vs |S| plot)
  curves: {round: [point]}                      the τ sweep of every round
  best: {weights, threshold, size, f, metrics, f_holdout, metrics_holdout}
  beats_random: whether the chosen S's f on the tune part is above the random subsets' mean (a warning
  is printed when it is not),
  baselines: {random: [{seed, size, f, f_holdout, metrics_holdout}], random_mean: {f, f_holdout},
              whole_pool: {size, f, f_holdout, metrics_holdout}, base_model: {f_holdout} (lm proxy only)}
  balance: {pool: report, selected: report}     labelled data only (sft_select.selection.balance.imbalance_report)
  strategy: the strategy chosen among tune.strategies, else null
  settings: the final strategy's settings chosen by the loop ({select field: value}, tune/params.py), else null;
  grids: {strategy: {select field: values tried}} (from tune.trims, tune.active_skips, ...), else null
  weights_searched: false when the tune part was under tune.min_rows_weights (only τ was chosen)
  guard: the guard's decision and figures on the holdout (tune/guard.py), null when it did not run
  evaluations: distinct proxy evaluations (both parts); evaluations_reused: how many of them this invocation
  read from RUN_DIR/cache/tune/ (tune/evaluations.py) instead of computing; seconds: wall time
  point = {round, phase ("initial"|"weights"|"sweep"|"settings"|"strategy"), label,
           weights, threshold, size, f, se, metrics, seconds}

tuned-config.yaml is the run's config with the best weights, `select.threshold: τ*` (N stays as the
cap), the chosen strategy and its chosen settings, and `tune.enabled: false`, so `sft-select run …
--config tuned-config.yaml` gives the tuned selection as is, without tuning again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.markup import escape

from sft_select.config.schema import Config, dump_config
from sft_select.core.errors import ConfigError, InputError, RunDirError
from sft_select.core.progress import info, progress_bar
from sft_select.core.record import Example
from sft_select.evaluate.proxy import ProxyScore, build_proxy
from sft_select.io.atomic import atomic_open, write_json
from sft_select.selection.balance import imbalance_report
from sft_select.selection.base import size_limit
from sft_select.selection.combine import resolve_weights
from sft_select.selection.finalize import weight_specs
from sft_select.selection.strategies import Context
from sft_select.tune.eta import EtaLines
from sft_select.tune.evaluations import Evaluations
from sft_select.tune.guard import Candidate, decide, verdict_line
from sft_select.tune.objective import Objective, Point
from sft_select.tune.params import choose_params, settings_label
from sft_select.tune.plan import plan, searches_weights
from sft_select.tune.strategy_choice import choose_strategy
from sft_select.tune.sweep import best, one_se, sweep
from sft_select.tune.weights import search


@dataclass
class TuneResult:
    weights: dict[str, float]
    threshold: float | None
    report: dict
    settings: dict | None = None  # the final strategy's settings (select fields), when the loop chose them
    strategy: str | None = None  # the selection strategy, when the loop chose among several
    guard: dict | None = None  # the guard's decision on the holdout (tune/guard.py), when it ran


def split_validation(examples: Sequence[Example], holdout: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Seeded tune/holdout split, stratified by label when every class has two examples or more."""
    examples = list(examples)
    n_hold = int(round(holdout * len(examples)))
    if holdout <= 0 or n_hold < 1 or len(examples) - n_hold < 1:
        return examples, []
    idx = np.arange(len(examples))
    labels = [ex.label for ex in examples]
    strat = None
    if all(lab is not None for lab in labels):
        counts = pd.Series(labels).value_counts()
        if counts.min() >= 2 and n_hold >= len(counts) and len(examples) - n_hold >= len(counts):
            strat = labels
    from sklearn.model_selection import train_test_split

    tune_idx, hold_idx = train_test_split(idx, test_size=n_hold, random_state=seed, stratify=strat)
    return [examples[i] for i in sorted(tune_idx)], [examples[i] for i in sorted(hold_idx)]


def _cap(objective: Objective) -> int:
    n_cand = int((objective.table["filter_reason"].isna()).sum())
    cap = size_limit(objective.select, n_cand)
    if cap is None:
        raise ConfigError("tune: the loop searches under |S| ≤ N; give -n or --fraction (a threshold alone "
                          "is what the loop sets)")
    return cap


def run_loop(objective: Objective, holdout: Sequence[Example], *, initial_weights: dict[str, float],
             initial_threshold: float | None, rounds: int, trials: int, method: str, alpha: float,
             shares: list[float], random_seeds: int, seed: int, choose: str = "best",
             strategies: Sequence[str] = (), grids: dict[str, dict[str, Sequence]] | None = None,
             guard_on: bool = True, min_rows_weights: int = 0) -> TuneResult:
    start = time.perf_counter()
    cap = _cap(objective)
    rng = np.random.default_rng(seed)
    trace: list[Point] = []
    curves: dict[int, list[Point]] = {}
    initial = objective(initial_weights, initial_threshold, label="initial", phase="initial")
    current = initial
    centre: dict[str, float] | None = None
    small = not searches_weights(objective, min_rows_weights)
    if small:
        # Each weight is a free parameter the tune part must pay for: on a small one the search fits its
        # noise (0.47 on a length score for a news pool, from 350 rows), so only τ is chosen.
        info(f"tune: {len(objective.validation)} validation rows to tune on (< tune.min_rows_weights = "
             f"{min_rows_weights}): the weights stay as configured; only τ and the strategy are chosen")
        rounds = 1
    for r in range(rounds):
        if small:
            top = current
        else:
            info(f"tune round {r + 1}/{rounds}: weight search over {', '.join(objective.names)}")
            top, points = search(objective, current.threshold, method=method, round=r, trials=trials,
                                 alpha=alpha, centre=centre, rng=rng, seed=seed)
            trace += points
        info(f"tune round {r + 1}/{rounds}: τ sweep at the best weights")
        curve = sweep(objective, top.weights, shares, cap, round=r)
        curves[r] = curve
        trace += curve
        current = best([current, top, *curve])
        centre = current.weights
        info(f"  best so far: f={current.f:.4f} with |S|={current.size}, τ={current.threshold}")
    top = current
    equal = {n: 1.0 / len(objective.names) for n in objective.names}
    if choose == "one_se":
        current = one_se([initial, *trace], len(objective.validation), equal)
        info(f"  1-SE rule: f={current.f:.4f} with |S|={current.size} (best f was {top.f:.4f})")
    # Each strategy's own settings (tune/params.py): searched for the configured strategy here, and for a listed
    # one inside the strategy choice, so it is compared at its chosen settings, not only at its defaults.
    chosen_by: dict[str, dict] = {}
    refined: dict[str, float] = {}  # f at the chosen settings, which is what the strategy choice compares
    grids = grids or {}

    def refine(name: str, obj: Objective, point: Point) -> tuple[Point, list[Point]]:
        if not grids.get(name):
            return point, []
        point, setting, tried = choose_params(obj, point, grids[name], choose=choose, round=rounds)
        chosen_by[name], refined[name] = setting, point.f
        info(f"  {name} settings: {settings_label(setting)} (f " + ", ".join(
            f"{p.label}: {p.f:.4f}" for p in tried) + f"; chosen f={point.f:.4f})")
        return point, tried

    current, tried = refine(objective.select.strategy, objective, current)
    trace += tried
    strategy = None
    if strategies:
        current, strategy, tried = choose_strategy(objective, current, strategies, choose=choose, round=rounds,
                                                   refine=refine)
        trace += tried
        info(f"  strategy: {strategy} (f " + ", ".join(
            f"{p.label}: {p.f:.4f}" + (f", at its chosen settings {refined[name]:.4f}"
                                      if (name := p.label.removeprefix("strategy=")) in refined else "")
            for p in tried if p.phase == "strategy") + f"; chosen f={current.f:.4f})")
    final = strategy or objective.select.strategy
    settings = chosen_by.get(final)

    pool_ids = objective.table.loc[objective.table["filter_reason"].isna(), "id"].tolist()
    random_sets = [(seed + 1 + k, random_ids(pool_ids, current.size, seed + 1 + k)) for k in range(random_seeds)]
    random_f = [objective.fit(ids).value for _, ids in random_sets]
    whole = objective.fit(pool_ids)
    # The loop always returns some weights; when even they do not beat random subsets of the same size
    # on the tune part, the views are not helping on this pool, and the user must hear it.
    beats_random = not random_f or current.f > float(np.mean(random_f))
    if not beats_random:
        info(f"[yellow]warning:[/yellow] the tuned selection (f={current.f:.4f}) does not beat random subsets "
             f"of the same size (mean f={np.mean(random_f):.4f}) on the tune part: the views do not help "
             "on this pool; compare with a random selection before training on it")

    # The holdout part is read only from here on, once per subset, after every choice has been made.
    def holdout_score(ids: Sequence[str]) -> ProxyScore:
        return objective.fit_on(ids, holdout, "holdout")

    def on_holdout(ids: Sequence[str]) -> dict:
        if not holdout or not ids:
            return {"f_holdout": None, "metrics_holdout": {}}
        s = holdout_score(ids)
        return {"f_holdout": round(s.value, 6), "metrics_holdout": {k: round(v, 6) for k, v in s.metrics.items()}}

    guard = None
    if holdout and guard_on:
        guard = run_guard(objective, holdout_score, {"tuned": current.ids, "configured": initial.ids},
                          pool_ids, random_seeds, seed)

    randoms = [{"seed": sd, "size": len(ids), "f": round(f, 6), **on_holdout(ids)}
               for (sd, ids), f in zip(random_sets, random_f)]
    baselines = {
        "random": randoms,
        "random_mean": {"f": _mean([r["f"] for r in randoms]), "f_holdout": _mean([r["f_holdout"] for r in randoms])},
        "whole_pool": {"size": len(pool_ids), "f": round(whole.value, 6), **on_holdout(pool_ids)},
    }
    if holdout and hasattr(objective.proxy, "base_loss"):
        loss = objective.evals.base_loss(objective.proxy, holdout, part="holdout", seed=objective.seed)
        baselines["base_model"] = {"f_holdout": round(-loss, 6)}
    report = {
        "version": 1,
        "proxy": objective.proxy.describe(),
        "pool": {"candidates": len(pool_ids), "cap": cap},
        "views": objective.names,
        "initial": {**_summary(initial), **on_holdout(initial.ids)},
        "trace": [p.as_dict() for p in trace],
        "curve": [p.as_dict() for p in curves[rounds - 1]],
        "curves": {str(r): [p.as_dict() for p in c] for r, c in curves.items()},
        "best": {**_summary(current), "metrics": current.metrics, **on_holdout(current.ids)},
        "choose": choose,
        "strategy": strategy,
        "settings": settings,
        "grids": {name: {k: list(v) for k, v in g.items()} for name, g in grids.items()} or None,
        "highest_f": _summary(top),
        "weights_searched": not small,
        "baselines": baselines,
        "beats_random": beats_random,
        "guard": guard,
    }
    labels = objective.table.set_index("id")["label"]
    if labels.notna().any():
        report["balance"] = {"pool": imbalance_report(labels.loc[pool_ids].tolist()),
                             "selected": imbalance_report(labels.loc[current.ids].tolist())}
    report["evaluations"] = objective.evaluations
    report["evaluations_reused"] = objective.evals.reused
    report["seconds"] = round(time.perf_counter() - start, 2)
    return TuneResult(current.weights, current.threshold, report, settings, strategy, guard)


def random_ids(pool_ids: Sequence[str], size: int, seed: int) -> list[str]:
    """A seeded uniform subset of `size` candidates, drawn over the ids sorted (independent of row order)."""
    ids = sorted(pool_ids)
    pick = np.random.default_rng(seed).choice(len(ids), size=min(size, len(ids)), replace=False)
    return [ids[i] for i in sorted(pick)]


def run_guard(objective: Objective, score, chosen: dict[str, list[str]], pool_ids: Sequence[str],
              random_seeds: int, seed: int) -> dict:
    """The guard's comparison on the holdout (tune/guard.py): the tuned and the configured S, and the stratified
    fallback at the tuned size, each against random subsets of its own size and the whole pool."""
    size = len(chosen["tuned"])
    strat = objective.select.model_copy(update={"strategy": "stratified", "threshold": None, "n": max(size, 1),
                                                "fraction": None, "budget_tokens": None})
    equal = {n: 1.0 / len(objective.names) for n in objective.names}
    chosen = {**chosen, "stratified": replace(objective, select=strat).subset(equal, None)}
    candidates, randoms = [], []
    for name, ids in chosen.items():
        if not ids:
            continue
        s = score(ids)
        candidates.append(Candidate(name, list(ids), s.value, s.per_row))
    for k in range(random_seeds):
        ids = random_ids(pool_ids, size, seed + 1 + k)
        s = score(ids)
        randoms.append(Candidate(f"random-{seed + 1 + k}", ids, s.value, s.per_row))
    whole = score(pool_ids)
    result = decide(candidates, randoms, Candidate("whole pool", list(pool_ids), whole.value, whole.per_row),
                    seed=seed)
    for row in result["candidates"]:
        if row["size"] != size:
            row["note"] = f"compared with random subsets of {size} rows"
    return result


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 6) if vals else None


def _summary(p: Point) -> dict:
    return {"weights": {k: round(v, 6) for k, v in p.weights.items()},
            "threshold": None if p.threshold is None else round(p.threshold, 6), "size": p.size, "f": round(p.f, 6)}


def load_validation(path: str | Path, cfg: Config) -> list[Example]:
    from sft_select.io.load import load

    loaded = load([path], fields=cfg.input.fields, on_error="fail")
    if not loaded.examples:
        raise InputError(path, "the validation file holds no usable examples")
    return loaded.examples


def tuned_config(cfg: Config, names: Sequence[str], result: TuneResult) -> Config:
    """The config that writes what the loop chose: the tuned weights, τ and strategy; or, when the guard
    kept the configured selection, the config as given; or the stratified fallback."""
    decision = (result.guard or {}).get("decision", "tuned")
    if decision != "tuned":
        data = cfg.model_dump(mode="json")
        data.setdefault("tune", {})["enabled"] = False
        if decision == "stratified":
            data["select"].update(strategy="stratified", threshold=None)
        return Config.model_validate(data)
    data = cfg.model_dump(mode="json")
    data["views"]["use"] = list(names)
    settings = data["views"].setdefault("settings", {})
    for name in names:
        settings.setdefault(name, {})["weight"] = round(result.weights.get(name, 0.0), 6)
    data["select"]["threshold"] = None if result.threshold is None else round(result.threshold, 6)
    if result.strategy is not None:
        data["select"]["strategy"] = result.strategy
    if result.settings is not None:
        data["select"].update(result.settings)
    data.setdefault("tune", {})["enabled"] = False
    return Config.model_validate(data)


def tune_table(table: pd.DataFrame, examples: Sequence[Example], cfg: Config, validation: Sequence[Example],
               names: Sequence[str], *, validation_path: str | Path | None = None,
               cache_dir: str | Path | None = None) -> tuple[TuneResult, Config]:
    """Tune on a scored table; returns the result and the tuned config (weights, τ). With `cache_dir`
    (RUN_DIR/cache/tune), each proxy evaluation is cached there and reused by a later tune that asks
    for it again (tune/evaluations.py)."""
    if not cfg.select.has_size():
        raise ConfigError("tune: say how much to keep (-n or --fraction)")
    specs = weight_specs(cfg, names)
    by_id = {ex.id: ex for ex in examples}
    pool = [by_id[i] for i in table.loc[table["filter_reason"].isna(), "id"]]
    proxy = build_proxy(cfg.evaluate, pool, embedder=cfg.embedding.model)
    tune_part, holdout = split_validation(validation, cfg.tune.holdout, cfg.seed)
    evals = Evaluations(cache_dir=cache_dir)
    objective = Objective(table=table, specs=specs, select=cfg.select, proxy=proxy, examples=by_id,
                          validation=tune_part, ctx=Context(by_id, cfg.embedding.model), keep=cfg.preprocess.keep,
                          weights_policy=cfg.combine.weights, seed=cfg.seed, evals=evals)
    t = cfg.tune
    grids = t.grids([cfg.select.strategy, *t.strategies])
    planned = plan(objective, rounds=t.rounds, trials=t.trials, shares=t.sweep, random_seeds=t.random_seeds,
                   strategies=t.strategies, grids=grids, min_rows_weights=t.min_rows_weights,
                   holdout=len(holdout), guard=t.guard)
    info(f"tune: up to {planned.total} evaluations of the {proxy.name} proxy ({planned.describe()}) on "
         f"{len(tune_part)} validation examples ({len(holdout)} held out); a time estimate follows the first")
    if proxy.name == "lora_lm" and not _cuda():
        info("  LoRA fits on CPU take minutes each; for a quick loop lower tune.trials, tune.rounds or "
             "evaluate.lm.token_budget")
    # A bar over the evaluations (with its own elapsed time and ETA, once the tune has run a few seconds)
    # besides the lines: a bar the proxy opens inside an evaluation is a row under it (core/progress.py).
    with progress_bar(f"tune: {proxy.name} proxy evaluations", planned.total) as advance:
        evals.progress = EtaLines(planned.total, advance=advance)
        result = run_loop(objective, holdout, initial_weights=resolve_weights(specs, cfg.combine.weights),
                          initial_threshold=cfg.select.threshold, rounds=t.rounds, trials=t.trials,
                          method=t.search, alpha=t.concentration, shares=t.sweep, random_seeds=t.random_seeds,
                          seed=cfg.seed, choose=t.choose, strategies=t.strategies, grids=grids, guard_on=t.guard,
                          min_rows_weights=t.min_rows_weights)
    info(evals.progress.summary() + (f" ({escape(str(cache_dir))})" if evals.reused else ""))
    result.report = {**result.report, "validation": {"path": str(validation_path) if validation_path else None,
                                                     "tune": len(tune_part), "holdout": len(holdout),
                                                     "seed": cfg.seed}}
    return result, tuned_config(cfg, names, result)


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def write_tune_outputs(out: Path, result: TuneResult, tuned: Config) -> None:
    write_json(out / "tune.json", result.report)
    with atomic_open(out / "tuned-config.yaml") as fh:
        fh.write("# Written by `sft-select tune`: the best view weights and threshold found on the validation\n"
                 "# file. `sft-select run INPUTS --config tuned-config.yaml --out DIR` selects with them as is.\n")
        fh.write(dump_config(tuned))


def tune_step(out: Path, table: pd.DataFrame, examples: Sequence[Example], cfg: Config,
             validation_path: str | Path, validation: Sequence[Example],
             names: Sequence[str]) -> tuple[Config, dict | None]:
    """The step `sft-select run --validation FILE` runs before the final selection; returns the tuned config
    and the guard's decision (tune/guard.py; None when it did not run)."""
    result, tuned = tune_table(table, examples, cfg, validation, names, validation_path=validation_path,
                               cache_dir=tune_cache(out))
    return _tuned(out, result, tuned)


def tune_cache(run_dir: str | Path) -> Path:
    """Where a run's tune evaluations are cached (tune/evaluations.py). A link there is refused, as `run`
    refuses one in cache/ (rundir/folder.py): the cache would be written through it, out of the run."""
    folder = Path(run_dir) / "cache" / "tune"
    for path in (folder.parent, folder):
        if path.is_symlink():
            raise RunDirError(f"{run_dir}: {path.relative_to(run_dir)} is a symlink; a run directory's cache is "
                              "never followed out of it: remove the link")
    return folder


def _tuned(out: Path, result: TuneResult, tuned: Config) -> tuple[Config, dict | None]:
    write_tune_outputs(out, result, tuned)
    b = result.report["best"]
    info(f"Tuned: f={b['f']:.4f} (holdout {b['f_holdout']}) with |S|={b['size']}, τ={b['threshold']}, "
         f"weights {b['weights']}; tune.json and tuned-config.yaml in {out}")
    if b["f_holdout"] is not None:
        info("  " + holdout_line(result.report))
    guard = result.report.get("guard")
    if guard is not None:
        line = escape(verdict_line(guard, result.report["proxy"]["name"]))
        info(("  " if guard["decision"] == "tuned" else "  [yellow]guard:[/yellow] ") + line)
    return tuned, guard


def holdout_line(report: dict) -> str:
    """The chosen S against its two baselines on the holdout part, the one comparison the search never
    saw: whether training on S beats training on everything, and beats a random S of its size."""
    b, base = report["best"], report["baselines"]
    whole, rnd = base["whole_pool"], base["random_mean"]["f_holdout"]
    # A streaming run tunes on the views' fit sample: its "whole pool" is that sample.
    pool = "fit sample" if "sample" in report else "whole pool"
    verdict = ("above" if b["f_holdout"] > whole["f_holdout"] else "level with" if b["f_holdout"] == whole["f_holdout"]
               else "below")
    return (f"holdout f ({report['proxy']['name']} proxy): S {b['f_holdout']:.4f}, {pool} "
            f"({whole['size']} rows) {whole['f_holdout']:.4f}"
            + (f", random subsets of |S| {rnd:.4f}" if rnd is not None else "") + f": S is {verdict} the {pool}")


def tune_on_sample(out: Path, table: pd.DataFrame, sample: Sequence[Example], cfg: Config,
                   validation_path: str | Path, validation: Sequence[Example],
                   names: Sequence[str]) -> tuple[Config, dict | None]:
    """`tune_step` for a streaming run, whose pool is not in memory (`tune_sample_table`)."""
    return _tuned(out, *tune_sample_table(table, sample, cfg, validation, names, validation_path=validation_path,
                                          cache_dir=tune_cache(out)))


def tune_sample_table(table: pd.DataFrame, sample: Sequence[Example], cfg: Config, validation: Sequence[Example],
                      names: Sequence[str], *, validation_path: str | Path | None = None,
                      cache_dir: str | Path | None = None) -> tuple[TuneResult, Config]:
    """`tune_table` over the rows of the sample a streaming run's views were fit on (a seeded uniform
    sample of the pool), with the absolute sizes (-n, the token budget, the quotas' minimum) scaled to the
    sample's share of the scored rows; weights, τ and the strategy's settings carry over to the whole
    pool, and the tuned config keeps the pool's sizes."""
    part = table[table["id"].isin({ex.id for ex in sample})].reset_index(drop=True)
    scored, pool_scored = int(part["filter_reason"].isna().sum()), int(table["filter_reason"].isna().sum())
    info(f"tune: on the views' fit sample, {scored} of {pool_scored} scored examples; sizes scaled to it")
    s = cfg.select
    scaled = {key: max(1, round(value * scored / max(pool_scored, 1)))
              for key in ("n", "budget_tokens", "min_per_group") if (value := getattr(s, key))}
    result, tuned = tune_table(part, sample, cfg.model_copy(update={"select": s.model_copy(update=scaled)}),
                               validation, names, validation_path=validation_path, cache_dir=cache_dir)
    pool_sizes = {key: getattr(s, key) for key in scaled}
    tuned = tuned.model_copy(update={"select": tuned.select.model_copy(update=pool_sizes)})
    result.report = {**result.report, "sample": {"scored": scored, "pool_scored": pool_scored, "sizes": scaled}}
    return result, tuned
