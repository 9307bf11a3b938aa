"""int8 inference of a causal LM's Linear layers on CPU, for the LM views' `dtype="int8"`.

Why: a 135M float32 model one sequence at a time already runs near the FMA peak of 2 AVX2 cores, so
batching alone cannot make the LM statistics several times faster (docs/benchmarks.md "LM views").
fbgemm's int8 GEMM (AVX2 u8 x s8 multiply-adds) does about twice the work per cycle (measured on one
1024x576x1536 product: 45 vs 26 GFLOP/s under load).

How, and why not `torch.ao.quantization.quantize_dynamic` as is: its activations get one scale per
tensor, so a single outlier token costs every other token its precision; measured on Dolly, response
losses moved by 1.5 nats on average. Here each Linear layer
- quantizes its weight per output channel (symmetric, integers in [-63, 63]);
- scales each token (row) of its input to [-1, 1] and quantizes it with a fixed 8-bit scale, so every
  token has its own scale, so a row's result does not depend on which other rows share the batch;
  only the float rounding differences between batch shapes (~1e-6) remain, and where one of them moves
  an int8 rounding step a loss moves by ~1e-2 nat, up to 0.1 nat on a 3-token response
  (tests/views_lm/test_lm_int8.py).
Why 7-bit weights: fbgemm's AVX2 kernel sums pairs of u8 x s8 products in int16; 8-bit activations
with 8-bit weights overflow it (checked: errors of 10+ on random inputs), 255 x 63 x 2 does not. On 8
Dolly examples this lost less than 7-bit activations with 8-bit weights (mean loss error 0.07 vs 0.10
nat). SmoothQuant-style channel smoothing (alpha 0.5, calibrated on a fixed text) was tried and left
out: no clear gain on those examples, and on a loaded CPU its extra multiply per layer cost more time
than it was worth (a profile showed elementwise ops, not the int8 GEMMs, taking most of the time).
For the same reason sibling layers that read the same input (q/k/v, gate/up) share its per-token
scaling, computed once. Llama models on CPU use the same scheme through `sft_select.models.lm.lean_llama`, whose
fused q/k/v and gate/up products quantize each input once; `quantize` serves the other architectures.
"""
from __future__ import annotations

SCHEME = "int8-w7pc-a8pt-v1"  # goes into the model fingerprint: change it when the numbers change
ACT_SCALE, ACT_ZERO = 1 / 127.5, 128  # [-1, 1] onto 0..255
W_LEVELS = 63  # weight integers in [-63, 63]: no int16 overflow in fbgemm's AVX2 kernel


def _module_class():
    """The int8 Linear module class, defined on first use so that importing this file needs no torch."""
    import torch
    from torch import nn

    qlinear = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32
    last: list = [None, None, None]  # (input, scaled input, row scales) of the latest call

    def scaled(x):
        """x with each row scaled to [-1, 1], and the scales; reused when sibling layers read the same x
        (the same tensor object: q/k/v after one norm, gate/up after another)."""
        if last[0] is not x:
            row = torch.linalg.vector_norm(x, ord=float("inf"), dim=-1, keepdim=True).clamp_min_(1e-30)
            last[:] = [x, (x / row).reshape(-1, x.shape[-1]), row]
        return last[1], last[2]

    class Int8Linear(nn.Module):
        def __init__(self, linear: nn.Linear):
            super().__init__()
            w = linear.weight.detach().float()
            scale = (w.abs().amax(1).clamp_min(1e-12) / W_LEVELS).double()
            qw = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(qw, None)
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x):
            flat, row = scaled(x)
            y = qlinear(flat, ACT_SCALE, ACT_ZERO, self.packed).reshape(*x.shape[:-1], -1).mul_(row)
            return y if self.bias is None else y + self.bias

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, {SCHEME}"

    return Int8Linear


def quantize(model) -> None:
    """Replaces every nn.Linear of a float32 CPU model by its int8 version, in place.

    The output projection is included (it is applied only at scored positions); the input embedding,
    which SmolLM2 ties to it, stays float32 since a lookup costs nothing.
    """
    from torch import nn

    cls = _module_class()
    for name, linear in [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, cls(linear))
