"""Active selection with the labels known: S grows where a classifier trained on S is least sure.

Margin sampling ("Less is more", Schohn & Cohn 2000): a margin classifier trained on the examples near its
decision boundary can match one trained on all the data, because the easy, typical examples add little.
Here the labels are already given, so the "queries" cost nothing; what the loop buys is the order:

1. rows a view flagged as a likely label error (`<view>_issue`, e.g. quality_label's cleanlab flag) are
   left out (`drop_flagged`), as in coverage.py;
2. a seeded random sample of `active.seed` × N starts S, apportioned over the groups like the quotas
   (quota_by, quota), so the first classifier sees every class;
3. each round, a logistic regression on the embeddings (selection/logreg.py, the fit of the tune loop's logreg
   proxy) is fit on S and scores the remaining rows: `margin` = gap between its two most probable classes, or
   `label` = probability of the given label; the next `active.batch` × candidates rows are the lowest,
   apportioned over the groups by the same Sainte-Laguë seats as the whole run;
4. a row whose given label the model finds much less likely than its top class (p(label) <
   `active.skip` × p(top)) is skipped that round: the rows a model fit on trusted rows calls confidently
   wrong are the likely flips. On the case study's 20news with 20% flipped labels (20% selection), 40% of
   the rows still in doubt at the end were flips, against 5% of the rows quality_label did not flag; S kept
   6%: margin sampling is drawn to flips (they sit near the boundary), and the guard stops only part of them.

Every round's model is fit on S as it stands, so the order depends on what was taken before: the walk
is offered rows round by round, and N or the token budget stop it as for every strategy. Deterministic
for the same table, embeddings, config and seed (seeded sample, seeded solver, one BLAS thread, ties by
the combined-score order).
"""
from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig
from sft_select.selection.coverage import flagged_rows
from sft_select.selection.logreg import fit_logreg
from sft_select.selection.quotas import group_keys

# The settings the tune loop may choose for this strategy (tune/params.py; values from TuneConfig.grid_for).
TUNABLE = ("active.seed", "active.batch", "active.skip", "active.C", "active.score")

def given_labels(table: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The label of every candidate; the strategy trains on them, so an unlabelled candidate is an error."""
    if "label" not in table or table["label"].iloc[positions].isna().all():
        raise ConfigError("select.strategy: active trains a classifier on the given labels and needs labelled "
                          "data (text/label rows); use coverage or quota for instruction data")
    col = table["label"].iloc[positions]
    missing = col.isna().to_numpy()
    if missing.any():
        first = table["id"].iloc[positions[np.flatnonzero(missing)[0]]]
        raise ConfigError(f"select.strategy: active needs a label on every candidate; {int(missing.sum())} have "
                          f"none (first: id {first}); label them, or filter them out before selecting")
    return col.astype(str).to_numpy(dtype=object)


class _Seats:
    """Sainte-Laguë seats over the groups, kept for the whole run so every prefix of S is apportioned."""

    def __init__(self, weight: dict[str, float]):
        self.weight, self.seats = weight, {g: 0 for g in weight}

    def order(self, lists: dict[str, list[int]]) -> list[tuple[str, int]]:
        """(group, row) in the order the seats go, each group taking from its own list front first."""
        nxt = {g: 0 for g in lists}
        seats = dict(self.seats)
        heap = [(-self.weight[g] / (2 * seats[g] + 1), g) for g in sorted(lists) if lists[g]]
        heapq.heapify(heap)
        out = []
        while heap:
            _, g = heapq.heappop(heap)
            out.append((g, lists[g][nxt[g]]))
            nxt[g] += 1
            seats[g] += 1
            if nxt[g] < len(lists[g]):
                heapq.heappush(heap, (-self.weight[g] / (2 * seats[g] + 1), g))
        return out


def _scores(model, X: np.ndarray, labels: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(ask-first score, p(given label), p(top class), top class) for rows X; low score = asked first.

    A label the model has not seen (its class is not in S yet) gets p = 0 and no doubt: nothing says it is wrong.
    """
    P = model.predict_proba(X)
    classes = list(model.classes_)
    col = {c: k for k, c in enumerate(classes)}
    gi = np.array([col.get(lab, -1) for lab in labels])
    p_label = np.where(gi >= 0, P[np.arange(len(X)), np.maximum(gi, 0)], 0.0)
    top = P.argmax(axis=1)
    p_top = P[np.arange(len(X)), top]
    if how == "margin":
        two = np.sort(P, axis=1)[:, -2:]  # S holds two classes or more whenever a model is fit
        ask = two[:, 1] - two[:, 0]
    else:
        ask = p_label
    return ask, np.where(gi >= 0, p_label, np.inf), p_top, [classes[k] for k in top]


def select_active(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:

    ctx = ctx or Context()
    walk = Walk(table, cfg, ctx)
    if not len(walk.order):
        return walk.result()
    labels = np.empty(len(table), dtype=object)
    labels[walk.order] = given_labels(table, walk.order)
    keys = group_keys(table, cfg.quota_by)
    flag, flagged_by = flagged_rows(table) if cfg.drop_flagged else (np.zeros(len(table), bool), [])
    weight: dict[str, float] = {}
    for pos in walk.order:
        weight[keys[pos]] = weight.get(keys[pos], 0) + 1  # before flagged rows: a noisy class keeps its share
    if cfg.quota == "equal":
        weight = {g: 1.0 for g in weight}
    trusted = []
    for pos in walk.order:  # score order, best first: ties below keep it
        if flag[pos]:
            walk.refuse(pos, f"label_issue: flagged by {flagged_by[pos]}")
        else:
            trusted.append(int(pos))
    if not trusted:
        return walk.result()
    trusted = np.array(trusted)
    ids = table["id"].to_numpy()
    X = ctx.embeddings(ids[trusted].tolist(), "strategy active")
    row_of = {int(pos): k for k, pos in enumerate(trusted)}
    target = walk.size if walk.size is not None else len(trusted)
    batch = max(1, int(round(cfg.active.batch * len(walk.order))))
    seats = _Seats(weight)
    offered = np.zeros(len(table), dtype=bool)
    rank = 0

    def offer(plan: list[tuple[str, int]], k: int) -> int:
        nonlocal rank
        done = 0
        for g, pos in plan:
            if done >= k or walk.full:
                break
            offered[pos] = True
            if walk.offer(pos, rank):
                seats.seats[g] += 1
            rank += 1
            done += 1
        return done

    # Seed: a seeded random sample, drawn over the trusted rows in id order (independent of the table's order).
    by_id = trusted[np.argsort(ids[trusted], kind="mergesort")]
    shuffled = by_id[np.random.default_rng(seed).permutation(len(by_id))]
    lists: dict[str, list[int]] = {}
    for pos in shuffled:
        lists.setdefault(keys[pos], []).append(int(pos))
    one_class = len({labels[p] for p in trusted}) < 2  # no boundary to learn: the seeded sample is all there is
    n_seed = len(trusted) if one_class else max(2, int(round(cfg.active.seed * target)))
    offer(seats.order(lists), n_seed)
    while len({labels[p] for p in np.flatnonzero(walk.keep)}) < 2 and not walk.full and not one_class:
        rest = {g: [p for p in m if not offered[p]] for g, m in lists.items()}  # S needs two classes to fit
        if not offer(seats.order(rest), 1):
            break

    last: dict[int, str] = {}
    refits = 0
    while not walk.full:
        left = trusted[~offered[trusted]]
        if not len(left):
            break
        S = np.flatnonzero(walk.keep)
        if len({labels[p] for p in S}) < 2:
            break  # the token budget refused every row of the second class
        refits += 1
        model = fit_logreg(X[[row_of[p] for p in S]], labels[S].astype(str), C=cfg.active.C, seed=seed)
        ask, p_label, p_top, top = _scores(model, X[[row_of[p] for p in left]], labels[left].astype(str),
                                           cfg.active.score)
        doubt = p_label < cfg.active.skip * p_top
        lists = {}
        for j in np.argsort(ask, kind="stable"):  # left is in score order, so ties go to the better score
            pos = int(left[j])
            if doubt[j]:
                last[pos] = (f"label_doubt: p('{labels[pos]}') = {p_label[j]:.2f} < {cfg.active.skip} × "
                             f"p('{top[j]}') = {p_top[j]:.2f} under the model fit on {len(S)} selected rows "
                             f"(refit {refits})")
            else:
                lists.setdefault(keys[pos], []).append(pos)
                last[pos] = (f"not_selected: {cfg.active.score} {ask[j]:.2f} under the model fit on {len(S)} "
                             f"selected rows (refit {refits}), N={walk.size} reached first")
        if not offer(seats.order(lists), batch):
            break  # every row left is in doubt
    for pos in trusted[~offered[trusted]]:
        walk.refuse(int(pos), last.get(int(pos), f"not_selected: outside the seed-{seed} sample, N={walk.size} "
                                         "reached first"))
    return walk.result()


STRATEGY = Strategy(select_active, reads_embeddings=True, tunable=TUNABLE)
