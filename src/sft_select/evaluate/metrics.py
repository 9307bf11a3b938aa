"""Classification metrics shared by the classifier proxies."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def classification_metrics(truth: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the validation labels (a class never predicted scores F1 = 0)."""
    from sklearn.metrics import f1_score

    truth, pred = np.asarray(truth, dtype=object), np.asarray(pred, dtype=object)
    labels = sorted(set(truth.tolist()))
    return {
        "accuracy": float((truth == pred).mean()) if len(truth) else float("nan"),
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
    }
