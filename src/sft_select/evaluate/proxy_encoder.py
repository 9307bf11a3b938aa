"""Classifier proxy, heavier option: fine-tune a transformers encoder (all of it) on S.

Closer to what a user will finally train than logistic regression on frozen embeddings, and minutes
rather than seconds on CPU, so it suits the final comparison more than a wide weight search. The default
encoder is the packaged all-MiniLM-L6-v2 (22M parameters, offline); the GPU is used when there is one.
"""
from __future__ import annotations

import os
import time
from typing import Sequence

import numpy as np

from sft_select.core.errors import ConfigError, MissingDependency
from sft_select.core.record import Example
from sft_select.evaluate.base import ProxyScore
from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.metrics import classification_metrics
from sft_select.selection.balance import class_weights


class EncoderProxy:
    name = "encoder"

    def __init__(self, *, model: str | None = None, metric: str = "accuracy", class_weight: str | None = None,
                 epochs: int = 2, lr: float = 5e-5, batch_size: int = 16, max_length: int = 128,
                 device: str = "auto"):
        self.model = model
        self.metric = metric
        self.class_weight = class_weight
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "model": self.model or "all-MiniLM-L6-v2",
                "epochs": self.epochs, "lr": self.lr, "class_weight": self.class_weight}

    def _path(self) -> str:
        if self.model:
            return self.model
        from sft_select.models.embed.embedders import minilm_path

        return str(minilm_path())

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError:
            raise MissingDependency("transformers", "the encoder proxy") from None
        start = time.perf_counter()
        train = [ex for ex in train if ex.label is not None]
        classes = sorted({ex.label for ex in train})
        if len(classes) < 2:
            pred = [classes[0] if classes else ""] * len(validation)
            metrics = classification_metrics([ex.label for ex in validation], pred)
            return ProxyScore(metrics[self.metric], metrics, len(train), time.perf_counter() - start)
        torch.manual_seed(seed)
        device = "cuda" if self.device != "cpu" and torch.cuda.is_available() else "cpu"
        try:
            tok = AutoTokenizer.from_pretrained(self._path())
            model = AutoModelForSequenceClassification.from_pretrained(
                self._path(), num_labels=len(classes), ignore_mismatched_sizes=True).to(device)
        except OSError as exc:
            raise ConfigError(f"evaluate.classifier.encoder: cannot load '{self._path()}': {exc}") from None
        y = torch.tensor([classes.index(ex.label) for ex in train])
        weight = None
        if self.class_weight == "balanced":
            w = class_weights([ex.label for ex in train])
            weight = torch.tensor([w[c] for c in classes], dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr)
        rng = np.random.default_rng(seed)
        model.train()
        for _ in range(self.epochs):
            for idx in np.array_split(rng.permutation(len(train)), max(1, len(train) // self.batch_size)):
                enc = tok([train[i].text or train[i].content for i in idx], truncation=True,
                          max_length=self.max_length, padding=True, return_tensors="pt").to(device)
                loss = loss_fn(model(**enc).logits, y[idx].to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        pred: list[str] = []
        with torch.no_grad():
            for s in range(0, len(validation), 64):
                batch = validation[s:s + 64]
                enc = tok([ex.text or ex.content for ex in batch], truncation=True, max_length=self.max_length,
                          padding=True, return_tensors="pt").to(device)
                pred.extend(classes[i] for i in model(**enc).logits.argmax(-1).tolist())
        metrics = classification_metrics([ex.label for ex in validation], pred)
        return ProxyScore(metrics[self.metric], metrics, len(train), time.perf_counter() - start)


def from_config(cfg: EvaluateConfig, embedder: str) -> EncoderProxy:
    """The encoder fine-tunes its own model; `embedder` is not used."""
    c = cfg.classifier
    e = c.encoder
    return EncoderProxy(model=e.path, metric=c.metric, class_weight=c.class_weight, epochs=e.epochs, lr=e.lr,
                        batch_size=e.batch_size, max_length=e.max_length)
