"""A lean CPU forward pass for Llama-architecture causal LMs (SmolLM2 is one), for the LM views.

Why: on 2 AVX2 cores the transformers forward spends much of its time outside the matrix products
(per-op dispatch, rotary and mask tensors rebuilt per call, repeat_kv copies, three q/k/v and two
gate/up products reading the same input). This decoder loop reuses the model's own weights with:
- q/k/v fused into one product and gate/up into another (weights concatenated once, at load);
- weights stored transposed (input x output, contiguous): MKL runs `x @ W` faster than `x @ W.T`;
- rotary embedding as one complex multiplication: the q and k rows of each head are permuted once so
  that the rotated pairs (j, j + d/2) sit side by side; a consistent permutation of q and k leaves
  every q.k product, hence every attention weight, unchanged;
- attention through SDPA with `enable_gqa` (no repeat_kv copies) and `is_causal`, or one small
  boolean mask shared by the whole batch when a prefix cache is in front. No padding mask at all:
  padding is on the right, so in a causal model no real token ever attends to it;
- RMSNorm's weight folded into the next product's weight.
Its numbers are the model's own: tests/views_lm/test_lm_lean.py checks losses against the transformers
forward to 1e-4 in float32.

int8 (`precision="int8"`): the fused products as fbgemm int8 GEMMs with the scheme of
`sft_select.models.lm.int8` (weights per output channel in [-63, 63], each token's input scaled to [-1, 1]
and quantized at 8 bits), so one activation scaling per fused product instead of one per layer.

Other architectures (or Llama variants with biases, another activation, tensor-parallel slicing)
get None from `lean_model` and keep the transformers forward.
"""
from __future__ import annotations

from typing import Any

LEAN_VERSION = "lean-llama-v1"  # goes into the model fingerprint: change it when the numbers change


def supports(model) -> bool:
    """Whether `model` is a plain LlamaForCausalLM this module reproduces exactly."""
    c = getattr(model, "config", None)
    if c is None or getattr(c, "model_type", None) != "llama" or type(model).__name__ != "LlamaForCausalLM":
        return False
    return (c.hidden_act == "silu" and not getattr(c, "attention_bias", False) and not getattr(c, "mlp_bias", False)
            and getattr(c, "pretraining_tp", 1) == 1 and model.lm_head.bias is None)


class LeanLlama:
    """The decoder of a LlamaForCausalLM as plain tensors; `hidden` and `head` split like the model's
    own decoder and output projection, `prefix` gives a key/value cache to put in front of a batch."""

    def __init__(self, model, precision: str = "float32"):
        import torch

        c = model.config
        self.precision = precision
        self.heads, self.kv_heads = c.num_attention_heads, c.num_key_value_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.eps = c.rms_norm_eps
        self.rotary = model.model.rotary_emb
        self.embed = model.model.embed_tokens.weight.detach()
        d = self.head_dim
        half = torch.arange(d // 2)
        pair = torch.stack([half, half + d // 2], dim=1).flatten()  # (0, d/2, 1, d/2 + 1, ...)

        def rope_rows(w, n_heads):  # permute each head's output rows so rotated pairs are adjacent
            return w.view(n_heads, d, -1)[:, pair].reshape(n_heads * d, -1)

        self.layers = []
        with torch.no_grad():
            for layer in model.model.layers:
                a, m = layer.self_attn, layer.mlp
                ln1 = layer.input_layernorm.weight.detach().float()
                ln2 = layer.post_attention_layernorm.weight.detach().float()
                qkv = torch.cat([rope_rows(a.q_proj.weight.detach(), self.heads),
                                 rope_rows(a.k_proj.weight.detach(), self.kv_heads), a.v_proj.weight.detach()])
                gate_up = torch.cat([m.gate_proj.weight.detach(), m.up_proj.weight.detach()])
                self.layers.append((self._fold(qkv, ln1), self._linear(a.o_proj.weight.detach()),
                                    self._fold(gate_up, ln2), self._linear(m.down_proj.weight.detach())))
            self.lm_head = self._fold(model.lm_head.weight.detach(), model.model.norm.weight.detach().float())
        self._freqs = torch.zeros(0, d // 2, dtype=torch.complex64)

    # ---- products ---------------------------------------------------------------------------------

    def _fold(self, w, norm_weight) -> tuple:
        """A product that reads an RMSNorm's output. float32: the norm's weight folded into the product's
        (one multiply less per token). int8: kept apart and applied to the input, since folding it into
        the weights quantized them worse (mean loss error 0.17 vs 0.10 nat on 6 short examples)."""
        if self.precision == "float32":
            return self._linear(w * norm_weight), None
        return self._linear(w), norm_weight

    def _linear(self, w) -> Any:
        """What `_apply` needs for weight `w` (out x in): its transpose, or its int8 packing."""
        import torch

        if self.precision == "float32":
            return w.float().t().contiguous()
        from sft_select.models.lm.int8 import W_LEVELS

        w = w.float()
        scale = (w.abs().amax(1).clamp_min(1e-12) / W_LEVELS).double()
        qw = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(qw, None)

    def _apply(self, x, w, row_scale=None):
        """x @ W for a 2-D x. `w` is a weight, or (weight, norm weight or None) for a product after an
        RMSNorm, whose 1/rms per row is `row_scale` (rows x 1): in int8 it is applied to the output
        instead of the input, which is the same product."""
        import torch

        if isinstance(w, tuple):
            w, norm_weight = w
            if norm_weight is not None:
                x = x * norm_weight
        if isinstance(w, torch.Tensor):  # float32 weights (packed int8 weights are a ScriptObject)
            return x.mul(row_scale) @ w if row_scale is not None else x @ w
        from sft_select.models.lm.int8 import ACT_SCALE, ACT_ZERO

        top = x.abs().amax(-1, keepdim=True).clamp_min_(1e-30)  # each token to [-1, 1]: its own scale
        y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(x / top, ACT_SCALE, ACT_ZERO, w)
        return y.mul_(top if row_scale is None else top * row_scale)

    def _inv_rms(self, x):
        import torch

        return torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add_(self.eps))

    # ---- rotary -----------------------------------------------------------------------------------

    def _rope(self, start: int, length: int):
        """cos + i sin per position and frequency, from the model's own rotary module (so its scaling
        variants apply), for positions start .. start + length - 1."""
        import torch

        end = start + length
        if self._freqs.shape[0] < end:
            n = max(end, 2 * self._freqs.shape[0], 256)
            probe = torch.zeros(1, dtype=torch.float32)
            cos, sin = self.rotary(probe, torch.arange(n)[None])
            half = self.head_dim // 2
            self._freqs = torch.complex(cos[0, :, :half].float(), sin[0, :, :half].float())
        return self._freqs[start:end]

    # ---- forward ----------------------------------------------------------------------------------

    def _layers(self, ids, prefix=None, keep_kv: bool = False):
        """Runs the decoder on ids (batch x T) after an optional prefix cache; returns the last hidden
        state (before the final norm) and, when asked, each layer's key/value tensors."""
        import torch
        import torch.nn.functional as F

        b, t = ids.shape
        h, kvh, d = self.heads, self.kv_heads, self.head_dim
        p = prefix[0][0].shape[2] if prefix else 0
        freqs = self._rope(p, t)[:, None]  # T x 1 x d/2
        mask = None
        if p:  # every query sees the whole prefix, then the batch causally: one mask for all rows/heads
            mask = torch.ones(t, p + t, dtype=torch.bool).tril_(p)
        x = F.embedding(ids, self.embed).reshape(b * t, -1)
        kv_out = []
        for i, (qkv_w, o_w, gu_w, down_w) in enumerate(self.layers):
            qkv = self._apply(x, qkv_w, self._inv_rms(x)).view(b, t, h + 2 * kvh, d)
            qk = torch.view_as_real(torch.view_as_complex(qkv[:, :, :h + kvh].unflatten(-1, (d // 2, 2))) * freqs)
            q = qk[:, :, :h].flatten(-2).transpose(1, 2)
            k = qk[:, :, h:].flatten(-2).transpose(1, 2)
            v = qkv[:, :, h + kvh:].transpose(1, 2)
            if keep_kv:
                kv_out.append((k, v))
            if p:
                pk, pv = prefix[i]
                k = torch.cat([pk.expand(b, -1, -1, -1), k], dim=2)
                v = torch.cat([pv.expand(b, -1, -1, -1), v], dim=2)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=not p, enable_gqa=kvh != h)
            x = x + self._apply(att.transpose(1, 2).reshape(b * t, h * d), o_w)
            gu = self._apply(x, gu_w, self._inv_rms(x))
            half = gu.shape[-1] // 2
            act = F.silu(gu[:, :half]).mul_(gu[:, half:])
            x = x + self._apply(act, down_w)
        return x.view(b, t, -1), kv_out

    def prefix(self, ids):
        """Key/value cache of one sequence `ids` (list of ints), to be shared by every row of later batches."""
        import torch

        with torch.inference_mode():
            return self._layers(torch.tensor([ids]), keep_kv=True)[1]

    def hidden(self, ids, prefix=None):
        """Last hidden state (batch x T x hidden, before the final norm) of right-padded `ids`."""
        return self._layers(ids, prefix)[0]

    def head(self, hidden):
        """Logits at the given hidden states (rows x hidden): final RMSNorm, then the output projection."""
        return self._apply(hidden, self.lm_head, self._inv_rms(hidden))


def lean_model(model, precision: str) -> LeanLlama | None:
    """The lean forward of a CPU float32 `model` at `precision` (float32 or int8), or None when this
    model is not one it reproduces."""
    import torch

    if precision not in ("float32", "int8") or model.device.type != "cpu" or model.dtype != torch.float32:
        return None
    return LeanLlama(model, precision) if supports(model) else None
