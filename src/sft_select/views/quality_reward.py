"""quality_reward: a reward model's score of each (prompt, response), if the user gives one.

Any Hugging Face sequence-classification model folder works (e.g. an OpenAssistant DeBERTa reward
model saved locally). Loading is locked down: offline (`local_files_only`), `trust_remote_code=False`
and safetensors weights only, so a downloaded model folder cannot run code. The raw value is the reward
logit (one-label models) or the log-odds of the last label (classifiers whose last label is "good").
Slow on CPU, so it is not a default view; without a path it is skipped with a message.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sft_select.core.errors import ConfigError, MissingDependency, load_error
from sft_select.core.record import Example
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}  # (path, device) -> (tokenizer, model), once per process


def _load(path: str, device: str) -> tuple[Any, Any]:
    key = (path, device)
    if key in _LOADED:
        return _LOADED[key]
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"quality_reward.path: {path} is not a model folder")
    if not any(folder.glob("*.safetensors")):
        raise ConfigError(f"quality_reward.path: {path} has no .safetensors weights; only safetensors are "
                          "loaded (a pickled .bin can run code)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError:
        raise MissingDependency("transformers", "the quality_reward view") from None
    safe = dict(local_files_only=True, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **safe)
        model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True, **safe)
    except Exception as exc:  # a damaged or foreign folder fails in many ways (OSError, ValueError,
        # SafetensorError, KeyError…): all are the folder's problem, said in one line
        raise load_error("views.settings.quality_reward.params.path", path, exc,
                         "as a sequence-classification model offline without remote code") from None
    model.to(device).eval()
    _LOADED[key] = (tokenizer, model)
    return tokenizer, model


@register
class QualityReward(View):
    name = "quality_reward"
    group = "quality"
    version = "1"
    needs = frozenset({"instruction"})
    cpu_fast = False
    default_batch_size = 64
    default_on = False  # needs a model path: only when named
    conformance_skip = ("needs a Hugging Face reward model folder; tests/views/test_quality_reward.py builds a "
                        "small one from the packaged MiniLM and runs the shared contract checks on it")

    def __init__(self, *, path: str | None = None, input_format: str = "pair", max_length: int = 512,
                 batch_size: int = 16, device: str = "auto"):
        """`input_format`: pair feeds (prompt, response) as a sentence pair (DeBERTa-style reward models);
        chat renders the turns with the tokenizer's chat template (LLM-based reward models).
        `max_length`: tokens read per example; longer ones are truncated. `device`: auto picks the GPU."""
        self.path = path
        self.input_format = input_format
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device

    def skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        if not self.path:
            return ("quality_reward needs a reward model: set views.settings.quality_reward.params.path to a "
                    "local Hugging Face sequence-classification model folder (safetensors)")
        return super().skip_reason(pool, target)

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "QualityReward":
        if not self.path:
            raise ConfigError("quality_reward: no model path given (views.settings.quality_reward.params.path)")
        if self.input_format not in ("pair", "chat"):
            raise ValueError("input_format must be 'pair' or 'chat'")
        if self.device == "auto":
            import torch

            self.device_ = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device_ = self.device
        _load(self.path, self.device_)  # fail at fit time, before any scoring
        return self

    def _encode(self, tokenizer: Any, batch: Sequence[Example]) -> Any:
        if self.input_format == "pair":
            return tokenizer([ex.prompt for ex in batch], [ex.response for ex in batch], truncation=True,
                             max_length=self.max_length, padding=True, return_tensors="pt")
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError(f"quality_reward: {self.path} has no chat template; use input_format: pair")
        texts = [tokenizer.apply_chat_template([{"role": t.role, "content": t.content} for t in ex.turns],
                                               tokenize=False) for ex in batch]
        return tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        import torch

        tokenizer, model = _load(self.path, self.device_)
        raw = np.empty(len(batch))
        # Similar lengths together: less padding, and padding never changes a score beyond float noise.
        order = np.argsort([len(ex.content) for ex in batch], kind="stable")
        for start in range(0, len(batch), max(1, self.batch_size)):
            idx = order[start:start + self.batch_size]
            enc = self._encode(tokenizer, [batch[i] for i in idx]).to(self.device_)
            with torch.inference_mode():
                logits = model(**enc).logits.float().cpu().numpy()
            if logits.shape[1] == 1:
                raw[idx] = logits[:, 0]
            else:  # log-odds of the last label against all others
                others = np.logaddexp.reduce(logits[:, :-1], axis=1)
                raw[idx] = logits[:, -1] - others
        return ViewResult(raw, [f"reward {v:+.2f}" for v in raw.tolist()])
