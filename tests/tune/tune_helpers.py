"""A small synthetic noisy-label pool with a score table of three views of known quality."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sft_select.core.record import Example
from sft_select.evaluate.proxy_classifier import LogRegProxy
from sft_select.selection.combine import ViewWeight
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import Context
from sft_select.tune.objective import Objective

TOPICS = {
    "sport": "match goal team player score league coach season win referee stadium".split(),
    "food": "recipe bake flour sugar oven taste dinner spice salad cook kitchen".split(),
    "tech": "laptop software code server chip network battery screen app cloud".split(),
    "travel": "flight hotel beach passport museum train island ticket tour map".split(),
}
NAMES = sorted(TOPICS)
SHARED = "the a of and to in is it this that with for on very really".split()


def examples(n: int, seed: int, flip: float = 0.0, prefix: str = "p"):
    """Topic texts; a share `flip` of them carries a wrong label. Returns (examples, flipped mask)."""
    rng = np.random.default_rng(seed)
    out, flipped = [], []
    for i in range(n):
        t = NAMES[rng.integers(len(NAMES))]
        words = list(rng.choice(TOPICS[t], 4)) + list(rng.choice(SHARED, 6))
        rng.shuffle(words)
        wrong = rng.random() < flip
        label = NAMES[(NAMES.index(t) + 1 + rng.integers(len(NAMES) - 1)) % len(NAMES)] if wrong else t
        text = " ".join(words)
        out.append(Example(id=f"{prefix}{seed}-{i}", source="toy", row=i, format="text_label",
                           original={"text": text, "label": label}, text=text, label=label))
        flipped.append(wrong)
    return out, np.array(flipped)


def noisy_problem(n: int = 400, flip: float = 0.4, cap: float = 0.3, seed: int = 0, n_val: int = 300):
    """(objective factory inputs): pool, table with views clean/junk/anti, validation examples."""
    pool, flipped = examples(n, seed, flip)
    val, _ = examples(n_val, seed + 100, 0.0, prefix="v")
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "id": [ex.id for ex in pool], "label": [ex.label for ex in pool], "filter_reason": None,
        "dup_cluster": None, "dup_kind": None,
        # clean: a label-quality-like score, right most of the time
        "clean_raw": (~flipped).astype(float) + rng.normal(0, 0.6, n),
        # junk: unrelated to quality
        "junk_raw": rng.random(n),
        # anti: prefers the mislabelled examples (a view that hurts when trusted alone)
        "anti_raw": flipped.astype(float) + rng.normal(0, 0.6, n),
    })
    specs = [ViewWeight(name=v, weight=None) for v in ("clean", "junk", "anti")]
    return pool, table, specs, val, int(round(cap * n))


def make_objective(pool, table, specs, validation, cap, *, strategy="top", seed=0, proxy=None):
    by_id = {ex.id: ex for ex in pool}
    return Objective(table=table, specs=specs, select=SelectConfig(strategy=strategy, n=cap),
                     proxy=proxy or LogRegProxy(embedder="hashing", C=2.0), examples=by_id,
                     validation=validation, ctx=Context(by_id, "hashing"), seed=seed)
