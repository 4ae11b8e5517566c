"""Hardware: the precision a device trains in, ``torch.compile``, and model FLOPs utilisation (MFU).

The training loop (``t2sql_lib.train``, chapter 4) asks this module three things: how the forward pass runs on its
device (``setup_precision``: fp32, or bf16/fp16 autocast with a gradient scaler), whether to compile the model
(``maybe_compile``: on a GPU only), and how fast it goes against the device's peak (``peak_flops``,
``step_flops``, ``model_flops_utilisation``, ``throughput_line``). On a CPU in fp32 every answer is "nothing to
do": autocast is a no-op, the scaler is disabled, nothing is compiled and the MFU is unknown. Chapter 8 opens it.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import TrainSettings
from .distributed import unwrap_model

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cuda_supports_bf16(device: torch.device | None = None) -> bool:
    """Native bf16 (Ampere, compute capability 8.0, or newer); a T4 (7.5) only emulates it, slowly."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Native bf16 matrix products on this CPU (AVX512-BF16 or AMX, e.g. AMD Zen 4 and later, Intel Xeon since
    Cooper Lake), read from the Linux CPU flags; elsewhere bf16 is emulated, no faster than fp32, and this says no."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``requested`` on ``device``.

    ``auto`` is bf16 on a GPU that has it, fp16 on one that does not, fp32 on a CPU. On a CPU, bf16 is used
    only when asked for and native (``cpu_supports_bf16``): autocast then runs the matrix products in bf16
    (faster steps for the CPU demo's model: ``benchmarks/bench_cpu_bf16.py``; attention stays fp32, see
    ``attention.fused_attention``). Otherwise a CPU trains in fp32, and bf16 asked of a GPU without it falls
    back to fp16; both with a warning.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: expected one of {PRECISIONS}")
    device = torch.device(device)
    if device.type != "cuda":
        if requested == "bf16" and device.type == "cpu" and cpu_supports_bf16():
            return "bf16"
        if requested in ("bf16", "fp16"):
            why = "no native bf16 on this CPU" if requested == "bf16" and device.type == "cpu" else "not supported"
            warnings.warn(f"precision {requested} asked for on {device.type} ({why}): training in fp32", stacklevel=2)
        return "fp32"
    if requested == "auto":
        return "bf16" if cuda_supports_bf16(device) else "fp16"
    if requested == "bf16" and not cuda_supports_bf16(device):
        warnings.warn("this GPU has no native bf16: training in fp16 with a gradient scaler", stacklevel=2)
        return "fp16"
    return requested


@dataclass
class Precision:
    """How the forward pass runs: ``name`` (fp32/bf16/fp16), the autocast dtype, and the gradient scaler."""

    name: str
    device_type: str
    scaler: torch.amp.GradScaler

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the low-precision dtype (weights and optimizer stay fp32); nothing in fp32."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def setup_precision(settings: TrainSettings, device: torch.device) -> Precision:
    """Pick the precision, turn TF32 on for fp32 matmuls on Ampere+, and make the gradient scaler.

    fp16 needs the scaler (small gradients underflow to 0 in fp16 otherwise); bf16 has fp32's range and
    does not. The scaler is built disabled otherwise, so the loop calls it the same way everywhere.
    """
    name = resolve_precision(settings.precision, device)
    if device.type == "cuda" and cuda_supports_bf16(device):
        torch.set_float32_matmul_precision("high")  # TF32 tensor cores for whatever still runs in fp32
    scaler = torch.amp.GradScaler("cuda", enabled=name == "fp16")
    return Precision(name=name, device_type=device.type, scaler=scaler)


def maybe_compile(model: nn.Module, settings: TrainSettings, device: torch.device) -> tuple[nn.Module, bool]:
    """``(torch.compile(model), True)`` when ``settings.compile`` and on a GPU, else ``(model, False)``.

    On a CPU the compile time exceeds what it saves on the course's small runs and needs a C++ compiler,
    so the setting is ignored there, with a warning.
    """
    if not settings.compile:
        return model, False
    if device.type != "cuda":
        warnings.warn("train.compile=true is ignored on the CPU: running eagerly", stacklevel=2)
        return model, False
    return torch.compile(model), True


# Dense 16-bit (bf16/fp16) tensor-core peak of one GPU, in TFLOP/s, from the vendor's data sheets (without
# sparsity). The first pattern that matches torch.cuda.get_device_name() wins, so the specific ones come first.
PEAK_TFLOPS_16BIT: tuple[tuple[str, float], ...] = (
    (r"H200", 989.0),
    (r"H100.*PCIe", 756.0),
    (r"H100", 989.0),  # SXM
    (r"A100", 312.0),
    (r"\bL4\b", 121.0),
    (r"\bT4\b", 65.0),  # fp16 only: a T4 has no bf16
    (r"V100", 125.0),
)


def peak_flops(device: torch.device | str, precision: str, device_name: str | None = None) -> float | None:
    """The GPU's peak FLOP/s for ``precision`` (bf16/fp16 tensor cores), or None when unknown.

    None on a CPU, in fp32, and on a card not in ``PEAK_TFLOPS_16BIT``: a utilisation against a guessed peak
    would mislead. ``device_name`` overrides ``torch.cuda.get_device_name`` (for tests and reports).
    """
    device = torch.device(device)
    if device.type != "cuda" or precision not in ("bf16", "fp16"):
        return None
    name = device_name if device_name is not None else torch.cuda.get_device_name(device)
    for pattern, tflops in PEAK_TFLOPS_16BIT:
        if re.search(pattern, name):
            return tflops * 1e12
    return None


def _token_tensors(x: torch.Tensor | Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    """The token-id tensors of a batch's inputs: the tensor itself, or a mapping's entries named ``*ids``."""
    if isinstance(x, torch.Tensor):
        return [x]
    return [v for k, v in x.items() if k.endswith("ids")]


def step_flops(model: nn.Module, batches: Sequence[torch.Tensor | Mapping[str, torch.Tensor]]) -> float | None:
    """Training FLOPs (forward + backward) of the model on input batches (batch, tokens), from the chapter-3
    ``flops_per_token(seq_len)``; None for a model without it. Padding tokens count: the GPU computes them.
    For mapping inputs, every token is counted as attending over the widths of all ``*ids`` entries together
    (an upper bound: e.g. ``sft.SharedSchemaLM``'s schema tokens see only the schema)."""
    per_token = getattr(unwrap_model(model), "flops_per_token", None)
    if per_token is None:
        return None
    total = 0.0
    for x in batches:
        tensors = _token_tensors(x)
        span = sum(t.shape[-1] for t in tensors)
        total += sum(t.numel() for t in tensors) * per_token(seq_len=span)
    return total


def model_flops_utilisation(flops: float, seconds: float, peak: float | None, world_size: int = 1) -> float | None:
    """MFU: the model's FLOPs per second as a fraction of the peak of ``world_size`` GPUs (None when unknown)."""
    if peak is None or seconds <= 0:
        return None
    return flops / seconds / (peak * world_size)


def throughput_line(step: int, interval: Mapping[str, float], peak: float | None, world_size: int = 1,
                    has_flops: bool = True) -> str:
    """``step 100: loss 2.3456, 51,234 tokens/s, MFU 38.2%`` for the steps of ``interval`` (sums of time,
    tokens, flops, loss and steps since the last line); the MFU reads ``unknown`` without a known peak."""
    seconds, steps = max(interval["time"], 1e-12), max(interval["steps"], 1)
    mfu = model_flops_utilisation(interval["flops"], seconds, peak, world_size) if has_flops else None
    shown = "unknown (no peak FLOP/s for this device)" if mfu is None else f"{mfu:.1%}"
    return (f"step {step}: loss {interval['loss'] / steps:.4f}, {interval['tokens'] / seconds:,.0f} tokens/s, "
            f"MFU {shown}")
