"""What this CPU can do, as the kernels bertcli runs on will see it: the one place that reads CPU flags.

`cpu_features()` returns the CPU's feature flags, named as Linux's /proc/cpuinfo names them
(`avx2`, `avx512_vnni`, `amx_int8`, `avx512_bf16`, ...), with the flags removed that oneDNN has been
told not to use. oneDNN (torch's CPU kernels for bf16 and int8 matrix products) reads the
environment variable ONEDNN_MAX_CPU_ISA (older name DNNL_MAX_CPU_ISA) once, when the process first
uses it, and then never uses instructions above that ISA. bertcli honours the same cap, so that

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 bertcli predict ...

behaves on an AVX-512/AMX machine as it would on an AVX2-only one: fp32 instead of bf16, and int8
with 7-bit activations (bertcli.core.inference.int8). Set both before the process starts (ATEN_CPU_CAPABILITY
caps torch's own vector kernels; oneDNN ignores it). The cap only lowers what is there: a flag the
CPU lacks never appears. Other systems than Linux report no flags, which reads as "no bf16, no
VNNI": the safe choices.
"""

from __future__ import annotations

import os
from pathlib import Path

# oneDNN's ISA levels (dnnl_cpu_isa_t): each is a bit mask of the features below it.
ISA_LEVELS = {
    "SSE41": 0x1,
    "AVX": 0x3,
    "AVX2": 0x7,
    "AVX2_VNNI": 0xF,
    "AVX2_VNNI_2": 0x1F,
    "AVX512_CORE": 0x27,
    "AVX512_CORE_VNNI": 0x67,
    "AVX512_CORE_BF16": 0xE7,
    "AVX512_CORE_FP16": 0x1EF,
    "AVX10_1_512": 0x1EF,
    "AVX512_CORE_AMX": 0xFEF,
    "AVX10_1_512_AMX": 0xFEF,
    "AVX512_CORE_AMX_FP16": 0x1FEF,
    "AVX10_1_512_AMX_FP16": 0x1FEF,
}
# The oneDNN feature bit each /proc/cpuinfo flag needs; flags not named here are never capped.
FLAG_BITS = {
    "avx": 0x2, "fma": 0x4, "f16c": 0x4, "avx2": 0x4,
    "avx_vnni": 0x8,
    "avx_vnni_int8": 0x10, "avx_ne_convert": 0x10, "avx_ifma": 0x10,
    "avx512_vnni": 0x40,
    "avx512_bf16": 0x80,
    "avx512_fp16": 0x100,
    "amx_tile": 0x200, "amx_int8": 0x400, "amx_bf16": 0x800,
}
PREFIX_BITS = (("avx512", 0x20), ("avx10", 0x100), ("amx", 0x1000))  # other AVX-512 and AMX flags

BF16 = ("avx512_bf16", "amx_bf16")
# Instructions that sum u8 x s8 products straight into 32 bits. Without them oneDNN's int8 kernels
# sum pairs of products in saturating 16-bit arithmetic (vpmaddubsw), which 8-bit activations overflow.
INT8_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "amx_int8")


def isa_cap() -> str | None:
    """The ISA oneDNN is capped at, as the environment sets it (ONEDNN_ wins over DNNL_), or None."""
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = os.environ.get(var, "").strip().upper()
        if value:
            return value if value in ISA_LEVELS else None  # oneDNN ignores values it does not know
    return None


def _flag_bit(flag: str) -> int:
    if flag in FLAG_BITS:
        return FLAG_BITS[flag]
    return next((bit for prefix, bit in PREFIX_BITS if flag.startswith(prefix)), 0)


def _cpuinfo_flags() -> frozenset[str]:
    try:
        with Path("/proc/cpuinfo").open() as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_features() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo names), less those above ONEDNN_MAX_CPU_ISA when it is set."""
    flags = _cpuinfo_flags()
    cap = isa_cap()
    if cap is None:
        return flags
    allowed = ISA_LEVELS[cap]
    return frozenset(flag for flag in flags if _flag_bit(flag) & ~allowed == 0)


def has_bf16(features: frozenset[str] | None = None) -> bool:
    """bf16 instructions (AVX512-BF16 or AMX-BF16): bf16 matrix products run natively."""
    return any(flag in (cpu_features() if features is None else features) for flag in BF16)


def has_int8_dot_product(features: frozenset[str] | None = None) -> bool:
    """VNNI or AMX-INT8: int8 products are summed in 32 bits, so full 8-bit activations are safe."""
    return any(flag in (cpu_features() if features is None else features) for flag in INT8_DOT_PRODUCT)


def describe_cpu(features: frozenset[str] | None = None) -> str:
    """A few words for messages: 'AVX2, no VNNI, no AMX' or 'AVX-512 with VNNI, bf16, AMX', and any cap."""
    features = cpu_features() if features is None else features
    base = "AVX-512" if "avx512f" in features else "AVX2" if "avx2" in features else "no AVX2"
    has = [name for name, present in (
        ("VNNI", any(f in features for f in ("avx512_vnni", "avx_vnni"))),
        ("bf16", has_bf16(features)),
        ("AMX", "amx_tile" in features),
    ) if present]
    lacks = [f"no {name}" for name in ("VNNI", "bf16", "AMX") if name not in has]
    words = f"{base} with {', '.join(has)}" if has else base
    if lacks:
        words += ", " + ", ".join(lacks)
    cap = isa_cap()
    return f"{words} (ONEDNN_MAX_CPU_ISA={cap})" if cap else words
