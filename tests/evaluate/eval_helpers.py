"""Fixtures and data for the evaluate tests: a tiny random causal LM on disk, instruction examples.

Kept out of conftest.py on purpose: test folders without __init__.py all name their conftest module
`conftest`, and tests elsewhere import helpers `from conftest`; test modules import these by name.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine spinning threads cost 10×."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    # A word-level vocabulary of the test data: a 100-entry softmax keeps each step in milliseconds.
    words = ["[PAD]", "[UNK]", "[EOS]", "User", "Assistant", ":", "count", "from", "word", "short", "answer",
             "zebra", "quartz", "violin", "mango", "orbit"] + [str(i) for i in range(40)]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, eos_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return str(folder)


def chat_examples(n: int, seed: int = 0, kind: str = "count"):
    """Instruction examples whose responses follow a learnable pattern (or noise)."""
    import random

    from sft_select.core.record import Example, Turn

    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.randint(1, 9)
        prompt = f"count from {a}"
        if kind == "count":
            response = " ".join(str(a + k) for k in range(6))
        else:
            response = " ".join(rng.choice(["zebra", "quartz", "violin", "mango", "orbit"]) for _ in range(6))
        turns = (Turn("user", prompt), Turn("assistant", response))
        out.append(Example(id=f"{kind}{seed}-{i}", source="t", row=i, format="openai", original={}, turns=turns))
    return out
