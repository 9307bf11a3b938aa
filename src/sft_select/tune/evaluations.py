"""Every proxy evaluation of one tune: memoized in the process, cached on disk under the run, counted, and
reported to the progress lines (tune/eta.py).

Why on disk: the evaluations are the tune's whole cost (a LoRA fit of a small LM on a CPU takes a minute
or more), and a killed `tune` or `run --validation`, run again, asks for the same evaluations in the same
order, since the loop is deterministic given its inputs. Each finished evaluation is one JSON file,
RUN_DIR/cache/tune/<key>.json, written atomically; the key (`key_parts`) holds everything that changes the
result: the subset's examples (ids and content), the proxy's class and constructor arguments and the device
it runs on, the validation part's examples in order (which covers the file and the tune/holdout split), the
part's name and the seed. A file that cannot be read back is computed again and replaced. A cached result
is the stored one to the last bit (floats round-trip through JSON exactly), so a warm cache changes no
choice and no figure of tune.json, only the time taken.
"""
from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from sft_select.core.cache import fingerprint, ids_fingerprint
from sft_select.core.record import Example
from sft_select.evaluate.base import Proxy, ProxyScore
from sft_select.io.atomic import write_json

CACHE_VERSION = 1  # bump when what a cached evaluation means changes
_BLOCK = 1000  # examples per fingerprint block: bounded memory for a whole-pool subset


def content_fingerprint(examples: Iterable[Example]) -> str:
    """Fingerprint of the examples in order: ids and the fields a proxy reads (an id hashes normalized text,
    so two rows that differ in spacing share an id but not this)."""
    blocks, block = [], []
    for ex in examples:
        block.append([ex.id, ex.text, ex.label, [[t.role, t.content] for t in ex.turns]])
        if len(block) == _BLOCK:
            blocks.append(fingerprint(block))
            block = []
    blocks.append(fingerprint(block))
    return fingerprint(blocks)


def proxy_fingerprint(proxy: Proxy) -> dict:
    """What of the proxy changes its result: its class, what it describes of itself, its constructor
    arguments (the proxies store them as attributes, as scikit-learn estimators do; state a fit leaves,
    such as the mlp's last training accuracy, is not one), and the device it resolves to."""
    params = {}
    for name in inspect.signature(type(proxy)).parameters:
        if name not in ("self", "args", "kwargs") and hasattr(proxy, name):
            params[name] = getattr(proxy, name)
    out = {"class": f"{type(proxy).__module__}.{type(proxy).__qualname__}", "describe": proxy.describe(),
           "params": params}
    if getattr(proxy, "device", None) not in (None, "cpu"):
        from sft_select.core.device import gpu_available

        out["device"] = "gpu" if gpu_available() else "cpu"
    return out


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sft-select")
    except PackageNotFoundError:
        return "unknown"


class Evaluations:
    """The proxy evaluations of one tune. `score` returns f(S) on a named validation part, from the
    process's memo, the disk cache or a new evaluation; `distinct`, `computed` and `reused` count them,
    `requests` counts every call per part (repeats included)."""

    def __init__(self, *, cache_dir: Path | None = None, progress=None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.progress = progress  # tune/eta.py's EtaLines, or None: silent
        self.clock = clock
        self.computed = 0
        self.reused = 0
        self.requests: dict[str, int] = {}
        self._memo: dict[tuple[str, str], ProxyScore] = {}
        self._parts: dict[tuple[str, str], str] = {}

    @property
    def distinct(self) -> int:
        return self.computed + self.reused

    def score(self, proxy: Proxy, ids: Sequence[str], examples: Mapping[str, Example],
              validation: Sequence[Example], *, part: str, seed: int) -> ProxyScore:
        """f(S) for S = `ids`, trained with `seed` and scored on `validation` (the loop's part `part`)."""
        self.requests[part] = self.requests.get(part, 0) + 1
        memo = (part, ids_fingerprint(sorted(ids)))
        if memo not in self._memo:
            train = [examples[i] for i in sorted(ids)] if self.cache_dir is not None else None
            self._memo[memo] = self._get(
                lambda: self.key_parts(proxy, train, validation, part=part, seed=seed),
                lambda: proxy.evaluate([examples[i] for i in ids], validation, seed))
        elif part == "tune" and self.progress is not None:
            # Each point of the search is a step of the plan, a repeat included (at no cost: the estimate
            # learns the repeat rate from it); on the holdout, each subset is asked for as often as the
            # guard and the report name it, and counted once.
            self.progress.finished(0.0, how="repeat")
        return self._memo[memo]

    def base_loss(self, proxy, validation: Sequence[Example], *, part: str, seed: int) -> float:
        """The untrained model's loss on `validation` (the LM proxy's floor): cached like an evaluation."""
        memo = (f"{part}:base", "")
        if memo not in self._memo:
            self.requests[memo[0]] = self.requests.get(memo[0], 0) + 1
            self._memo[memo] = self._get(
                lambda: {**self.key_parts(proxy, None, validation, part=part, seed=seed), "what": "base_loss"},
                lambda: ProxyScore(proxy.base_loss(validation, seed)))
        return self._memo[memo].value

    def key_parts(self, proxy: Proxy, train: Sequence[Example] | None, validation: Sequence[Example], *,
                  part: str, seed: int) -> dict:
        """Everything an evaluation's result depends on; its fingerprint names the cache file."""
        # The validation part's content is hashed once per tune: within one, the same ids are the same rows.
        where = (part, ids_fingerprint([ex.id for ex in validation]))
        if where not in self._parts:
            self._parts[where] = content_fingerprint(validation)
        return {"version": CACHE_VERSION, "package": _package_version(), "proxy": proxy_fingerprint(proxy),
                "train": None if train is None else {"rows": len(train),
                                                      "ids": ids_fingerprint([ex.id for ex in train]),
                                                      "content": content_fingerprint(train)},
                "validation": {"part": part, "rows": len(validation), "content": self._parts[where]},
                "seed": seed}

    def _get(self, key_parts: Callable[[], dict], compute: Callable[[], ProxyScore]) -> ProxyScore:
        path = None
        if self.cache_dir is not None:
            parts = key_parts()
            path = self.cache_dir / f"{fingerprint(parts)}.json"
            found = read_entry(path, parts)
            if found is not None:
                self.reused += 1
                if self.progress is not None:
                    self.progress.finished(found.seconds, how="reused")
                return found
        start = self.clock()
        score = compute()
        seconds = self.clock() - start
        self.computed += 1
        if path is not None:
            write_entry(path, parts, score)
        if self.progress is not None:
            self.progress.finished(seconds, how="computed")
        return score


def write_entry(path: Path, key_parts: dict, score: ProxyScore) -> None:
    write_json(path, {"key": key_parts, "value": score.value, "metrics": score.metrics, "n_train": score.n_train,
                      "seconds": score.seconds,
                      "per_row": None if score.per_row is None else np.asarray(score.per_row, float).tolist()})


def read_entry(path: Path, key_parts: dict) -> ProxyScore | None:
    """The cached score, or None when there is none or it cannot be read back as written (it is computed
    again and replaced)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != json.loads(json.dumps(key_parts, default=str)):
            return None
        per_row, metrics = data["per_row"], data["metrics"]
        if not isinstance(metrics, dict):
            return None
        return ProxyScore(float(data["value"]), metrics, int(data["n_train"]), float(data["seconds"]),
                          per_row=None if per_row is None else np.asarray(per_row, dtype=np.float64))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
