"""LM proxy: LoRA supervised fine-tuning of a small causal LM on S, then the response loss on validation.

f(S) = − mean response-token loss on the validation file (perplexity = exp(loss) is reported too).
Training reads a fixed number of tokens (`token_budget`) whatever |S| is, cycling through S in a seeded
order, so two subsets cost the same and differ only in what they teach. Only response tokens carry
loss (the prompt is context), as in TRL's completion-only SFT. The GPU is used when present.

Memory, which on a CPU is what limits a fit (docs/benchmarks.md, "LoRA proxy memory (CPU)"):
- the vocabulary projection runs only at the positions whose next token carries loss (`response_nll`):
  full logits are batch x length x vocabulary floats (400 MB for 8 x 256 tokens at SmolLM2's 49k words),
  kept several times over through the loss and its backward;
- each fit wraps a copy of the base model's modules that shares its weight tensors (`lora_copy`), so LoRA
  never touches the cached base, fits never leak into each other, and no second copy of the weights is made;
- after each step and each fit, freed memory is handed back to the OS (`release_memory`), so RSS does not
  creep up step after step and fit after fit.
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import gc
import math
import os
import time
from typing import Iterator, Sequence

import numpy as np

from sft_select.core.errors import MissingDependency
from sft_select.core.progress import progress_bar
from sft_select.core.record import Example
from sft_select.evaluate.base import ProxyScore

IGNORE = -100


def encode(ex: Example, tok, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) for one example; labels are IGNORE on the prompt part.

    The prompt goes through the tokenizer's chat template when it has one (SmolLM2 does), else a plain
    "User:/Assistant:" layout; the response ends with the template's end-of-turn (or EOS). A prompt too
    long for `max_length` is cut from the left, so the response keeps at least half the window.
    """
    if ex.turns:
        msgs = [{"role": t.role, "content": t.content} for t in ex.prompt_turns]
        response = ex.response
    else:  # labelled text read as plain language modelling: all of it is "response"
        msgs, response = [], ex.content
    if getattr(tok, "chat_template", None) and (msgs or ex.turns):
        prompt_text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        full_text = tok.apply_chat_template(msgs + [{"role": "assistant", "content": response}], tokenize=False)
        if not full_text.startswith(prompt_text):  # a template that rewrites earlier turns: fall back
            full_text = prompt_text + response + (tok.eos_token or "")
        resp_text = full_text[len(prompt_text):]
    else:
        prompt_text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in msgs)
        prompt_text += "Assistant: " if msgs else ""
        resp_text = response + (tok.eos_token or "")
    p = tok(prompt_text, add_special_tokens=False)["input_ids"] if prompt_text else []
    r = tok(resp_text, add_special_tokens=False)["input_ids"]
    keep_r = min(len(r), max(max_length // 2, max_length - len(p)))
    r = r[:keep_r]
    p = p[max(0, len(p) - (max_length - len(r))):] if max_length - len(r) > 0 else []
    return p + r, [IGNORE] * len(p) + r


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int, torch):
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    return ids, labels, mask


def full_logits_nll(model, ids, labels, mask, *, reduction: str = "mean"):
    """Response-token cross-entropy through the model's own forward: the reference `response_nll` is
    tested against, and the path for models whose logits are not the head applied to the decoder's output."""
    import torch

    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    shift = labels[:, 1:]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), shift.reshape(-1),
                                             ignore_index=IGNORE, reduction=reduction)


def response_nll(model, ids, labels, mask, *, reduction: str = "mean"):
    """Response-token cross-entropy with the vocabulary projection only where it is read: the decoder runs
    to hidden states, and the head is applied to the positions whose next token is a response token.
    Equal to `full_logits_nll` for models that `models.lm.forward.capabilities` finds splittable."""
    import torch

    shift = labels[:, 1:]
    rows, cols = (shift != IGNORE).nonzero(as_tuple=True)
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask)[0][rows, cols]
    logits = model.get_output_embeddings()(hidden).float()
    return torch.nn.functional.cross_entropy(logits, shift[rows, cols], reduction=reduction)


@contextlib.contextmanager
def lora_copy(base, lora_config) -> Iterator:
    """A peft model over a copy of `base`'s modules that shares its parameters and buffers.

    LoRA replaces modules in the tree it is given, so it gets a copy of the tree; the weights are shared,
    not copied (half the memory of a deep copy), and stay untouched: they are frozen and only the adapter
    reaches the optimizer. Freezing sets `requires_grad` on the shared tensors, so the flags are restored
    on the way out, whatever happens inside."""
    from peft import get_peft_model

    shared = list(base.parameters()) + list(base.buffers())
    flags = [p.requires_grad for p in base.parameters()]
    try:
        yield get_peft_model(copy.deepcopy(base, {id(t): t for t in shared}), lora_config)
    finally:
        for p, flag in zip(base.parameters(), flags):
            p.requires_grad_(flag)


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS, Windows)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # no C library loadable by name-less CDLL (Windows)
        return None


def release_memory(*, collect: bool = True) -> None:
    """Hand freed heap pages back to the OS (glibc's `malloc_trim`), after collecting cycles if `collect`.

    Without it, glibc keeps what a CPU step freed, the next step's differently-sized tensors do not fit the
    holes, and RSS grows step after step to well above what is ever live; trimmed, each step starts from
    the model's size again. Measured costless next to a step (docs/benchmarks.md)."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class LoRAProxy:
    name = "lora_lm"
    metric = "-loss"

    def __init__(self, *, model: str = "smollm2-135m", token_budget: int = 16_384, max_length: int = 256,
                 batch_size: int = 8, lr: float = 1e-3, lora_r: int = 8, lora_alpha: int = 16,
                 target_modules: Sequence[str] = ("q_proj", "v_proj"), max_validation: int = 256,
                 device: str = "auto", gradient_checkpointing: bool = False):
        self.model = model
        self.token_budget = token_budget
        self.max_length = max_length
        self.batch_size = batch_size
        self.lr = lr
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.target_modules = list(target_modules)
        self.max_validation = max_validation
        self.device = device
        self.gradient_checkpointing = gradient_checkpointing

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "model": self.model, "token_budget": self.token_budget,
                "max_length": self.max_length, "batch_size": self.batch_size, "lr": self.lr,
                "lora_r": self.lora_r, "lora_alpha": self.lora_alpha}

    def _device(self, torch) -> str:
        return "cuda" if self.device != "cpu" and torch.cuda.is_available() else "cpu"

    def _base(self, device: str):
        """(model, tokenizer) in float32 on `device`, shared with every user of the process's LM cache:
        `evaluate` adapts a copy of its modules (`lora_copy`), `base_loss` only reads it."""
        from sft_select.models.lm.loader import get_lm

        lm = get_lm(self.model, device, "float32", option="evaluate.lm.model (the lm proxy)")
        return lm.model, lm.tokenizer

    def _validation(self, validation: Sequence[Example], seed: int) -> list[Example]:
        if len(validation) <= self.max_validation:
            return list(validation)
        idx = np.sort(np.random.default_rng(seed).choice(len(validation), self.max_validation, replace=False))
        return [validation[i] for i in idx]

    def _nll(self, base):
        """The loss function for fits of `base`: `response_nll` where the split gives the model's logits."""
        from sft_select.models.lm.forward import capabilities

        return response_nll if capabilities(base)[0] else full_logits_nll

    def loss(self, model, tok, examples: Sequence[Example], device: str, nll=None) -> float:
        """Mean response-token loss (token-weighted) of `model` on `examples`."""
        import torch

        nll = nll or self._nll(model)
        rows = [encode(ex, tok, self.max_length) for ex in examples]
        rows = [r for r in rows if any(y != IGNORE for y in r[1][1:])]
        total, count = 0.0, 0
        model.eval()
        with torch.no_grad(), progress_bar(f"LM proxy: loss on {len(rows)} validation examples",
                                           total=len(rows)) as advance:
            for s in range(0, len(rows), self.batch_size):
                ids, labels, mask = collate(rows[s:s + self.batch_size], tok.pad_token_id, torch)
                total += float(nll(model, ids.to(device), labels.to(device), mask.to(device), reduction="sum"))
                count += int((labels[:, 1:] != IGNORE).sum())
                advance(len(rows[s:s + self.batch_size]))
        return total / max(count, 1)

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from peft import LoraConfig
        except ImportError:
            raise MissingDependency("peft", "the LM proxy (LoRA fine-tune)") from None
        start = time.perf_counter()
        device = self._device(torch)
        base, tok = self._base(device)
        rows = [encode(ex, tok, self.max_length) for ex in train]
        rows = [r for r in rows if any(y != IGNORE for y in r[1][1:])]
        if not rows:
            raise ValueError("no training example has a response to learn")
        nll = self._nll(base)
        torch.manual_seed(seed)
        config = LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=0.0,
                            target_modules=self.target_modules, task_type="CAUSAL_LM")
        try:
            with lora_copy(base, config) as model:  # released when the block ends, before the trim below
                if self.gradient_checkpointing:  # on the copy's layers only: the cached base is not touched
                    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                steps, seen, train_loss = self._fit(model.to(device), rows, tok, device, nll, seed)
                loss = self.loss(model, tok, self._validation(validation, seed), device, nll)
                del model
        finally:
            release_memory()
        metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "steps": float(steps),
                   "train_tokens": float(seen), "train_loss_last": float(np.mean(train_loss[-5:]))}
        return ProxyScore(-loss, metrics, len(train), time.perf_counter() - start)

    def _fit(self, model, rows, tok, device: str, nll, seed: int) -> tuple[int, int, list[float]]:
        """AdamW on the adapter for `token_budget` training tokens; (steps, tokens seen, step losses)."""
        import torch

        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lr)
        rng = np.random.default_rng(seed)
        seen, steps, train_loss = 0, 0, []
        model.train()
        # By training tokens, the budget every fit reads whatever |S| is: a step per batch of rows.
        with progress_bar(f"LM proxy: LoRA fine-tune on {len(rows)} examples, tokens",
                          total=self.token_budget) as advance:
            while seen < self.token_budget:
                order = rng.permutation(len(rows))
                for s in range(0, len(order), self.batch_size):
                    batch = [rows[i] for i in order[s:s + self.batch_size]]
                    ids, labels, mask = collate(batch, tok.pad_token_id, torch)
                    loss = nll(model, ids.to(device), labels.to(device), mask.to(device))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    train_loss.append(loss.item())
                    release_memory(collect=False)
                    step_tokens = int(mask.sum())
                    advance(min(step_tokens, self.token_budget - seen))
                    seen += step_tokens
                    steps += 1
                    if seen >= self.token_budget:
                        break
        return steps, seen, train_loss

    def base_loss(self, validation: Sequence[Example], seed: int = 0) -> float:
        """The untrained model's loss on the same validation examples: the floor any S must beat."""
        import torch

        device = self._device(torch)
        base, tok = self._base(device)
        return self.loss(base, tok, self._validation(validation, seed), device)
