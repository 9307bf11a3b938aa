"""Model loading: the GGUF tokenizer is rebuilt correctly, models load once, bad specs are clean errors."""
from __future__ import annotations

import pytest

from sft_select.core.errors import ConfigError
from sft_select.models.lm.loader import DEFAULT_LM, get_lm, model_location, resolve_device
from sft_select.views import build


def test_tokenizer_keeps_spaces_and_round_trips(smollm):
    tok = smollm.tokenizer
    text = "Hello world, 12 cats.\n\n  Ünïcödé 😀 <|im_start|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.unk_token_id not in ids  # transformers' own GGUF conversion turns every space into <unk>
    assert tok.convert_ids_to_tokens(ids)[:3] == ["Hello", "Ġworld", ","]
    assert ids[-1] == tok.convert_tokens_to_ids("<|im_start|>")  # special tokens stay single tokens


def test_chat_template_comes_from_the_gguf(smollm):
    text = smollm.tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                                add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_loaded_once_per_process(smollm):
    assert get_lm(DEFAULT_LM, device="cpu") is smollm
    assert smollm.fingerprint == get_lm(DEFAULT_LM, device="cpu").fingerprint


def test_local_model_fingerprint_follows_its_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"a")
    first = model_location(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"bb")
    assert model_location(str(tmp_path))[1] != first[1]
    assert model_location(str(tmp_path))[0] == str(tmp_path)


def test_unknown_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load"):
        get_lm(str(tmp_path), device="cpu")  # a folder without a model


def test_device_auto_picks_cuda_only_when_present():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_one_cache_for_views_proxy_and_budget(smollm):
    """The proxy, the paraphrase augmenter and the token budget load through the same loader and cache."""
    from sft_select.evaluate.proxy_lm import LoRAProxy
    from sft_select.models.lm.loader import get_tokenizer
    from sft_select.selection.budget import _tokenizer

    assert get_tokenizer(DEFAULT_LM) is smollm.tokenizer is _tokenizer("smollm2")
    assert LoRAProxy(device="cpu")._base("cpu") == (smollm.model, smollm.tokenizer)


@pytest.mark.parametrize("call", [lambda: get_lm(DEFAULT_LM, "cpu", "int8"),
                                  lambda: build("difficulty_ifd", {"dtype": "int8"}).fit([])])
def test_removed_int8_option_says_what_to_do(call):
    with pytest.raises(ConfigError, match="'int8' is no longer available.*float32"):
        call()
