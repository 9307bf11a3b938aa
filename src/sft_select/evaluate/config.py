"""The `evaluate` config section: which proxy model measures f(S), each proxy's settings in its own sub-section.

Every proxy's sub-section is present, whichever `proxy` is chosen (auto picks by the data). The classifier's
settings are split the same way by model (`classifier.mlp.hidden`); its flat keys of earlier versions
(`C`, `hidden`, `mlp_epochs`, ...) still load, with a one-line note.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sft_select.core.progress import info


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LogRegSettings(_Strict):
    C: float = Field(1.0, gt=0, description="inverse regularization")


class MLPSettings(_Strict):
    hidden: int = Field(256, ge=1, description="hidden units")
    alpha: float = Field(0.01, ge=0, description="L2 penalty (0.01 fits S yet was the best of 1e-4..1e-2 on the "
                         "case study's validation splits)")
    epochs: int = Field(200, ge=1, description="epochs, all run (no early stopping)")


class EncoderSettings(_Strict):
    path: str | None = Field(None, description="encoder folder; unset: the packaged all-MiniLM-L6-v2")
    epochs: int = Field(2, ge=1, description="fine-tuning epochs")
    lr: float = Field(5e-5, gt=0, description="learning rate")
    batch_size: int = Field(16, ge=1, description="examples per step")
    max_length: int = Field(128, ge=8, description="tokens per example")


# Flat keys of earlier versions -> (sub-section, field). `encoder` was the folder; it is now a sub-section.
LEGACY_CLASSIFIER_KEYS: dict[str, tuple[str, str]] = {
    "C": ("logreg", "C"), "hidden": ("mlp", "hidden"), "alpha": ("mlp", "alpha"), "mlp_epochs": ("mlp", "epochs"),
    "epochs": ("encoder", "epochs"), "lr": ("encoder", "lr"), "batch_size": ("encoder", "batch_size"),
    "max_length": ("encoder", "max_length"),
}
_noted: set[str] = set()


class ClassifierProxyConfig(_Strict):
    model: Literal["logreg", "mlp", "encoder"] = Field(
        "logreg", description="logreg: logistic regression on the configured embeddings (seconds); "
        "mlp: a one-hidden-layer network on the same embeddings, trained a fixed number of epochs so it "
        "fits S, flipped labels included, as a fine-tune does (seconds to tens of seconds); "
        "encoder: fine-tune a transformers encoder (minutes on CPU)")
    metric: Literal["accuracy", "macro_f1"] = Field("accuracy", description="which of the two is f(S)")
    class_weight: Literal["balanced"] | None = Field(
        None, description="balanced: weigh classes by inverse frequency in S (see sft_select.selection.balance); "
        "logreg and encoder")
    logreg: LogRegSettings = Field(default_factory=LogRegSettings, description="model logreg's settings")
    mlp: MLPSettings = Field(default_factory=MLPSettings, description="model mlp's settings")
    encoder: EncoderSettings = Field(default_factory=EncoderSettings, description="model encoder's settings")

    @model_validator(mode="before")
    @classmethod
    def _into_sections(cls, data: Any) -> Any:
        """Move a flat key of earlier versions into its model's sub-section, with a one-line note."""
        if not isinstance(data, dict):
            return data
        moves = {}
        if "encoder" in data and not isinstance(data["encoder"], (dict, BaseModel)):
            moves["encoder"] = ("encoder", "path")  # first: the other encoder keys go into the section it opens
        moves.update({k: LEGACY_CLASSIFIER_KEYS[k] for k in data if k in LEGACY_CLASSIFIER_KEYS})
        if not moves:
            return data
        data = dict(data)
        for key, (section, field) in moves.items():
            value = data.pop(key)
            sub = data.get(section)
            sub = sub.model_dump(exclude_unset=True) if isinstance(sub, BaseModel) else dict(sub or {})
            sub[field] = value
            data[section] = sub
            if key not in _noted:
                _noted.add(key)
                info(f"config: evaluate.classifier.{key} is deprecated; write evaluate.classifier.{section}.{field}")
        return data


class LMProxyConfig(_Strict):
    model: str = Field("smollm2-135m", description="smollm2-135m (packaged GGUF) or a causal LM folder")
    token_budget: int = Field(16_384, ge=64, description="train on this many tokens whatever |S| is, so every "
                              "S costs the same and only its content differs")
    max_length: int = Field(256, ge=16, description="tokens per example (longer prompts are cut from the left)")
    batch_size: int = Field(8, ge=1, description="examples per step")
    lr: float = Field(1e-3, gt=0, description="LoRA learning rate (constant, AdamW)")
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling (alpha / r multiplies the update)")
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"],
                                      description="the layers LoRA adapts")
    max_validation: int = Field(256, ge=1, description="validation examples read (seeded sample beyond this)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: the GPU when there is one")
    gradient_checkpointing: bool = Field(False, description="recompute each layer's activations in the backward "
                                         "pass: a fit's peak memory about halves, for ~35-40% more time "
                                         "(docs/benchmarks.md, LoRA proxy memory)")


class CoverageProxyConfig(_Strict):
    field: Literal["prompt", "response", "full"] = Field(
        "full", description="what is embedded on both sides: full (prompt + response: ranked subsets closest to "
        "an external judge, bench/instruction_proxies.py), prompt (the instruction only: tracks how many of "
        "the tasks S covers, blind to answer quality) or response; docs/selection.md, \"Which proxy for "
        "instruction data\"")
    k: int = Field(5, ge=1, description="each validation row's coverage is the mean of its k highest cosine "
                   "similarities to S (1: its nearest neighbour in S; 5 agreed with the judge more often)")


class EvaluateConfig(_Strict):
    proxy: Literal["auto", "classifier", "lm", "coverage"] = Field(
        "auto", description="auto: classifier for text/label data; for instruction data lm (LoRA) on a CUDA "
        "GPU, coverage (of the validation set by S in embedding space, no training) without one")
    classifier: ClassifierProxyConfig = Field(default_factory=ClassifierProxyConfig,
                                              description="proxy classifier's settings (labelled data)")
    lm: LMProxyConfig = Field(default_factory=LMProxyConfig, description="proxy lm's settings: a LoRA fine-tune "
                              "of a small causal LM, f = minus the validation loss")
    coverage: CoverageProxyConfig = Field(default_factory=CoverageProxyConfig,
                                          description="proxy coverage's settings: no training")
