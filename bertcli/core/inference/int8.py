"""Dynamic int8 linear layers on oneDNN, for `--quantize int8` on x86 CPUs.

Weights are quantized once, per output channel, symmetric; activations per batch (one asymmetric
uint8 scale per call, from the batch's min and max). The matrix product runs in oneDNN's int8
kernels (AMX-INT8 or VNNI where the CPU has them) and comes out in fp32 or bf16, so the rest of
the network can run in bf16 on CPUs that have it.

Without VNNI or AMX (AVX2-only CPUs, and AVX-512 ones before VNNI), oneDNN multiplies u8 x s8 with
vpmaddubsw, which adds each pair of products in saturating 16-bit arithmetic: two full-range
products, 2 x 255 x 127 = 64,770, do not fit in 32,767 and are silently clipped (an 18% error on a
random 64-input layer, about 5% on all-MiniLM-L6-v2's first layers). There the weights use 7 bits,
-63..63: 2 x 255 x 63 = 32,130 always fits. fbgemm's `reduce_range` takes the bit from the
activations instead; here the weights give it up more cheaply, as each output channel has its own
scale while a whole batch of activations shares one that outliers stretch. Trained MiniLM, 500 IMDb
test reviews, mean |p(int8) - p(fp32)|: 0.0065 at 8 bits, 0.0068 with 7-bit weights, 0.0114 with
7-bit activations. Which CPU is which comes from bertcli.core.cpu (it honours ONEDNN_MAX_CPU_ISA, so
a capped run takes the 7-bit path too), and a product built to hit the 16-bit limit is checked
against fp32 at load, so a kernel that clips anyway is caught before the first prediction.

Only the layers where int8 pays are quantized. On 4,096 x 384 activations (AMX CPU, 2 threads),
quantizing took 0.59 ms while the 1,536-output FFN product took 1.38 ms in int8 against 2.33 ms in
bf16, so a layer with 384 outputs saves less than its quantization costs. A layer gains only when
its output is wide: the FFN input projection (4x the hidden size), and the query/key/value
projections, which read the same input and quantize it once between them. The attention output and FFN output projections, the
pooler and the classification head stay in the model's dtype (the FFN output's GELU inputs also
have outliers that one scale per batch holds poorly).
"""

from __future__ import annotations

from typing import Any

from bertcli.core.errors import UsageError

# Attention input projections, by family: BERT/RoBERTa/ELECTRA, DistilBERT.
QKV_NAMES = ({"query", "key", "value"}, {"q_lin", "k_lin", "v_lin"})


def check_int8_kernels() -> None:
    """oneDNN's int8 linear kernels are in every x86 torch build; say so clearly where they are missing."""
    import torch

    try:
        available = torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise")
    except (AttributeError, RuntimeError):
        available = False
    if not available:
        raise UsageError("--quantize int8 needs torch's oneDNN int8 kernels (x86 CPUs) — drop --quantize on this machine")


def int8_layer_names(model: Any) -> list[str]:
    """The encoder's linear layers that run faster in int8: Q/K/V projections and wide (FFN input) projections."""
    import torch

    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or "classifier" in name or "pooler" in name:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if any(leaf in group for group in QKV_NAMES) or module.out_features >= 2 * module.in_features:
            names.append(name)
    return names


class SharedInput:
    """One quantized activation shared by the Q, K and V projections of one attention block.

    The entry keeps a reference to its source tensor, so that memory cannot be reused by another
    tensor while the entry lives, and is dropped once every member of the group has read it.
    """

    def __init__(self, members: int):
        self.members = members
        self.source: Any = None
        self.value: Any = None
        self.reads_left = 0

    def lookup(self, x: Any) -> Any:
        src = self.source
        if src is None or src.data_ptr() != x.data_ptr() or src.shape != x.shape or src.stride() != x.stride():
            return None
        self.reads_left -= 1
        value = self.value
        if self.reads_left <= 0:
            self.source = self.value = None
        return value

    def store(self, x: Any, value: Any) -> None:
        self.source, self.value, self.reads_left = x, value, self.members - 1


FULL_RANGE, REDUCED_RANGE = 127, 63  # the largest weight code: 8 bits, or 7 where pairs add in 16 bits


def speed_note() -> str | None:
    """What int8 buys on this CPU, where it does not pay off: without VNNI or AMX, int8 ran 1.76x the
    transformers pipeline on an AVX2-only machine (short of the 2x that would make it worth its label
    changes) against 3.7x with AMX (bench/README.md)."""
    from bertcli.core.cpu import describe_cpu, has_int8_dot_product

    if has_int8_dot_product():
        return None
    return (
        f"--quantize int8 on this CPU ({describe_cpu()}): 7-bit weights, and int8 does not pay off here as it does "
        "with VNNI or AMX — 1.76x the transformers pipeline on an AVX2-only machine (short of 2x; fp32 gave 1.14x), "
        "3.7x with AMX (bench/README.md)"
    )


def weight_range() -> int:
    """The largest weight code this CPU's int8 kernels sum exactly: 127 with VNNI or AMX, else 63."""
    from bertcli.core.cpu import has_int8_dot_product

    return FULL_RANGE if has_int8_dot_product() else REDUCED_RANGE


def quantize_activations(x: Any) -> tuple[Any, float, int]:
    """uint8 values, scale and zero point of a 2-D activation, from its min and max (0 always representable)."""
    import warnings

    import torch

    low, high = torch.aminmax(x)
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = (high - low) / 255 or 1.0
    zero_point = min(255, max(0, round(-low / scale)))
    if not hasattr(torch, "quantize_per_tensor"):  # quantized tensors are deprecated: the slower plain-op way
        return x.float().div(scale).round_().add_(zero_point).clamp_(0, 255).to(torch.uint8), scale, zero_point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        q = torch.quantize_per_tensor(x.float(), scale, zero_point, torch.quint8)
    # The quantized tensor's bytes as a plain uint8 tensor, without int_repr()'s copy (3x faster overall).
    raw = torch.empty(0, dtype=torch.uint8).set_(q.untyped_storage(), q.storage_offset(), q.shape, q.stride())
    return raw, scale, zero_point


def _int8_linear_class() -> type:
    import torch

    class Int8Linear(torch.nn.Module):
        """y = x @ W.T + b with W in int8 (per-channel scales, codes within ±weight_max) and x quantized per call."""

        def __init__(
            self, linear: torch.nn.Linear, out_dtype: torch.dtype, shared: SharedInput | None = None,
            weight_max: int = FULL_RANGE,
        ):
            super().__init__()
            weight = linear.weight.detach().float()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.register_buffer("weight_scale", (weight.abs().amax(dim=1) / weight_max).clamp(min=1e-12))
            weight_q = torch.round(weight / self.weight_scale[:, None]).clamp(-weight_max, weight_max).to(torch.int8)
            self.register_buffer("weight_zero_point", torch.zeros(self.out_features, dtype=torch.int32))
            self.packed = torch.ops.onednn.qlinear_prepack(weight_q, None)
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
            self.out_dtype = out_dtype
            self.shared = shared
            self.weight_max = weight_max

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, self.in_features)
            quantized = self.shared.lookup(flat) if self.shared is not None else None
            if quantized is None:
                quantized = quantize_activations(flat)
                if self.shared is not None:
                    self.shared.store(flat, quantized)
            values, scale, zero_point = quantized
            out = torch.ops.onednn.qlinear_pointwise(
                values, scale, zero_point, self.packed, self.weight_scale, self.weight_zero_point,
                self.bias, 1.0, 0, self.out_dtype, "none", [], "",
            )
            return out.reshape(*x.shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            bits = 8 if self.weight_max == FULL_RANGE else 7
            return f"in_features={self.in_features}, out_features={self.out_features}, int8 ({bits}-bit weights), out={self.out_dtype}"

    return Int8Linear


# A relative error this large is not rounding. On the check inputs below, 7-bit weights cost at most 1.3%
# (8-bit 0.7%; bf16 outputs add little); clipped 16-bit pair sums cost 4.5-5% on all-MiniLM-L6-v2's first
# layers, 22% on a random layer and 41% on the limit probe.
CHECK_TOLERANCE = 0.025


def _relative_error(int8_linear: type, linear: Any, x: Any, out_dtype: Any, weight_max: int) -> float:
    """‖int8 product − fp32 product‖ / ‖fp32 product‖ for one batch through a fresh int8 copy of `linear`."""
    import torch

    try:
        with torch.inference_mode():
            got = int8_linear(linear, out_dtype, weight_max=weight_max)(x).float()
            want = torch.nn.functional.linear(x, linear.weight.float(), None if linear.bias is None else linear.bias.float())
    except RuntimeError as err:
        raise UsageError(f"--quantize int8: this torch build's oneDNN int8 kernels failed ({err}) — drop --quantize") from err
    return float((got - want).norm() / want.norm().clamp(min=1e-12))


def limit_probe() -> tuple[Any, Any]:
    """A layer and input whose int8 product hits the 16-bit limit: every weight at the top code (±weight_max)
    and inputs at 255 (plus zeros and random values between), exact in int8 unless pairs of products are clipped."""
    import torch

    generator = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(64, 16, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.where(torch.rand(16, 64, generator=generator) < 0.5, -1.0, 1.0))
        linear.weight[0], linear.weight[1] = 1.0, -1.0  # all-same-sign rows: every pair at ±2 x 255 x weight_max
    x = torch.cat([torch.ones(2, 64), torch.zeros(1, 64), torch.rand(5, 64, generator=generator)])
    return linear, x


def large_activations(linear: Any) -> Any:
    """Random rows, and rows that drive the first output channels to their largest values (inputs at ±4 with
    their weights' signs), as the outliers of real activations do."""
    import torch

    weight = linear.weight.detach().float()
    randn = torch.randn(6, linear.in_features, generator=torch.Generator().manual_seed(0))
    return torch.cat([randn, 4 * torch.sign(weight[:2])])


def choose_weight_range(int8_linear: type, first: Any, out_dtype: Any) -> int:
    """The weight range for this CPU (`weight_range`), confirmed by two checked products against fp32: the
    limit probe, and the model's first int8 layer on large activations. Where the full range fails the
    probe, 7-bit weights are tried before int8 is refused."""
    from bertcli.core.cpu import describe_cpu

    for weight_max in dict.fromkeys((weight_range(), REDUCED_RANGE)):
        if _relative_error(int8_linear, *limit_probe(), out_dtype, weight_max) <= CHECK_TOLERANCE:
            break
    else:
        raise UsageError(
            f"--quantize int8: oneDNN's int8 products are wrong on this CPU ({describe_cpu()}) even with 7-bit "
            "weights — drop --quantize"
        )
    error = _relative_error(int8_linear, first, large_activations(first), out_dtype, weight_max)
    if error > CHECK_TOLERANCE:
        raise UsageError(
            f"--quantize int8: this torch build's oneDNN int8 kernels gave wrong results ({error:.0%} off fp32 on "
            f"this CPU: {describe_cpu()}) — drop --quantize"
        )
    return weight_max


def quantize_int8(model: Any, out_dtype: Any) -> Any:
    """Swap `int8_layer_names` for int8 layers in place, with outputs in `out_dtype` (fp32, or bf16 under autocast)."""
    check_int8_kernels()
    int8_linear = _int8_linear_class()
    names = int8_layer_names(model)
    if not names:
        return model
    weight_max = choose_weight_range(int8_linear, model.get_submodule(names[0]), out_dtype)
    groups: dict[str, SharedInput] = {}
    for name in names:
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        shared = None
        family = next((group for group in QKV_NAMES if leaf in group), None)
        if family is not None and all(hasattr(parent, member) for member in family):
            shared = groups.setdefault(parent_name, SharedInput(len(family)))
        linear = getattr(parent, leaf)
        try:
            layer = int8_linear(linear, out_dtype, shared, weight_max)
        except RuntimeError as err:
            raise UsageError(f"--quantize int8: oneDNN could not pack int8 weights on this CPU ({err}) — drop --quantize") from err
        setattr(parent, leaf, layer)
    return model
