"""The training engine: one loop for pretraining, fine-tuning and instruction tuning, from a CPU to many GPUs.

``train(model, train_data, settings=..., out_dir=...)`` runs AdamW (weight decay on matrices only; or Muon on
the blocks' matrices, ``train.optimizer=muon``, ``t2sql_lib.muon``) with a linear warm-up and cosine decay,
gradient clipping and accumulation, evaluation every ``eval_every`` steps with early stopping on a named
metric, mixed precision and ``torch.compile`` on GPUs, DDP under ``torchrun``, a ``tqdm`` progress bar,
throughput (tokens/s) and model FLOPs utilisation every ``log_every`` steps, metrics as CSV/JSON under
``out_dir``, and checkpoints (``t2sql_lib.checkpoint``, at evaluations and every ``checkpoint_every_minutes``)
from which a run resumes exactly where it stopped. With ``ema_decay`` > 0 an exponential moving average of the
weights (``t2sql_lib.ema``) is what gets evaluated, checkpointed as the model, and left in the model at the end.

Batches are ``(input_ids, target_ids)`` pairs of shape (batch, tokens); a target of ``-100`` is not
scored, which is how chapter 5 trains on the SQL only (its collate function masks the prompt). The loss
of a step is the mean over every scored token of the step, across accumulation micro-batches and GPUs,
so accumulating 4 batches of 8, or 2 GPUs with 16 each, gives the update of one batch of 32.

``python -m t2sql_lib.train --config tiny`` (or ``t2sql train``, or ``torchrun ... -m t2sql_lib.train``)
pretrains a GPT on the generated dataset's text; ``--data synthetic`` uses a deterministic token stream.
``--task sft`` runs chapter 8's text-to-SQL pipeline instead (``t2sql_lib.pipeline``): fine-tuning on the
generated data, WikiSQL and/or Spider, then scoring with several decoders;
``torchrun --nproc_per_node=N -m t2sql_lib.train --task sft --config gpu ...`` is its multi-GPU form.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import math
import random
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm.auto import tqdm

from .checkpoint import (
    BEST,
    STATE_FILE,
    find_resume_checkpoint,
    has_checkpoint,
    load_checkpoint,
    read_checkpoint_info,
    resolve_checkpoint,
    save_checkpoint,
    write_text_atomic,
)
from .config import Preset, TrainSettings
from .distributed import (
    DistEnv,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup_distributed,
    setup_distributed,
    unwrap_model,
    wrap_ddp,
)
from .ema import EMA
from .lm_data import SlidingWindowDataset
from .paths import outputs_dir

IGNORE_INDEX = -100  # target id that the loss skips (PyTorch's cross_entropy default)
TRAIN_LOG = "train_log.csv"
EVAL_LOG = "eval_log.csv"
METRICS_JSON = "metrics.json"
CHECKPOINTS = "checkpoints"


# ----------------------------------------------------------------------------------------------------
# Data: a synthetic token stream and a data loader that can restart in the middle of an epoch
# ----------------------------------------------------------------------------------------------------

def synthetic_token_stream(n_tokens: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """A deterministic stream of runs ``s, s+d, s+2d, ...`` (mod vocab) of random start, stride and length.

    Learnable (after two tokens of a run the next one is certain), so a loss that falls shows the loop
    works; independent of any tokenizer, so tests and the DDP check need no data files.
    """
    g = torch.Generator().manual_seed(seed)
    n_runs = n_tokens // 8 + 1  # runs average 20 tokens, so this is plenty; the stream is cut below
    lengths = torch.randint(8, 33, (n_runs,), generator=g)
    starts = torch.randint(0, vocab_size, (n_runs,), generator=g)
    strides = torch.randint(1, 4, (n_runs,), generator=g)
    run = torch.repeat_interleave(torch.arange(n_runs), lengths)  # run id of every token
    offset = torch.arange(len(run)) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    return ((starts[run] + strides[run] * offset) % vocab_size)[:n_tokens]


class ResumableSampler(Sampler[int]):
    """``DistributedSampler``'s order for one epoch (this rank's share of a seeded shuffle), from ``start`` on.

    The shuffle depends only on ``(seed, epoch)``, so a resumed run recreates the epoch's order and
    skips the ``start`` samples it had already consumed, without loading them.
    """

    def __init__(self, dataset: Dataset, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                 start: int = 0, shuffle: bool = True):
        self.inner = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        self.inner.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.inner)[self.start:])

    def __len__(self) -> int:
        return max(len(self.inner) - self.start, 0)


def make_loader(dataset: Dataset, batch_size: int, *, seed: int, epoch: int = 0, skip_batches: int = 0,
                env: DistEnv | None = None, collate_fn: Callable | None = None, shuffle: bool = True,
                drop_last: bool = True) -> DataLoader:
    """A loader over this rank's share of ``dataset`` for ``epoch``, skipping ``skip_batches`` batches.

    Its own generator keeps the loader from drawing on the global RNG (which would shift dropout masks
    on a resume); ``drop_last`` keeps every batch full, so every step has the same weight.
    """
    env = env or DistEnv()
    sampler = ResumableSampler(dataset, seed=seed, epoch=epoch, rank=env.rank, world_size=env.world_size,
                               start=skip_batches * batch_size, shuffle=shuffle)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                      drop_last=drop_last, generator=torch.Generator().manual_seed(seed),
                      pin_memory=env.device.type == "cuda")


class _BatchStream:
    """Endless batches, epoch after epoch, remembering where it is (epoch, batches consumed)."""

    def __init__(self, dataset, batch_size, seed, env, collate_fn, epoch=0, consumed=0):
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.env, self.collate_fn = env, collate_fn
        self.epoch, self.consumed = epoch, consumed
        self._it: Iterator | None = None

    def _start(self) -> None:
        self._it = iter(make_loader(self.dataset, self.batch_size, seed=self.seed, epoch=self.epoch,
                                    skip_batches=self.consumed, env=self.env, collate_fn=self.collate_fn))

    def next(self):
        if self._it is None:
            self._start()
        for _ in range(2):
            try:
                batch = next(self._it)
                self.consumed += 1
                return batch
            except StopIteration:
                self.epoch, self.consumed = self.epoch + 1, 0
                self._start()
        raise ValueError(f"the training data ({len(self.dataset)} examples over {self.env.world_size} "
                         f"process(es)) cannot fill one batch of {self.batch_size}")

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_consumed": self.consumed}


# ----------------------------------------------------------------------------------------------------
# Loss, learning-rate schedule, optimizer
# ----------------------------------------------------------------------------------------------------

def lm_loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over the scored targets (those not ``-100``).

    A sum, not a mean: the engine divides by the number of scored tokens in the whole step, so every
    token weighs the same however the step is split into micro-batches and GPUs.
    """
    # logits (batch, tokens, vocab) -> (batch * tokens, vocab); float() keeps fp16/bf16 logits exact enough
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX,
                           reduction="sum")


@dataclass
class WarmupCosine:
    """LR multiplier for update ``k`` (0-based): linear warm-up to 1, then cosine decay to ``min_ratio``."""

    warmup_steps: int
    max_steps: int
    min_ratio: float

    def __call__(self, k: int) -> float:
        if k < self.warmup_steps:
            return (k + 1) / self.warmup_steps  # never 0: the first update already moves the weights
        progress = min((k - self.warmup_steps) / max(self.max_steps - self.warmup_steps, 1), 1.0)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def lr_at(k: int, settings: TrainSettings) -> float:
    """The learning rate of update ``k`` (0-based) under ``settings``."""
    schedule = WarmupCosine(settings.warmup_steps, settings.max_steps, settings.min_lr_ratio)
    return settings.learning_rate * schedule(k)


OPTIMIZERS = ("adamw", "muon")


def muon_parameter(name: str, param: torch.Tensor) -> bool:
    """Whether ``train.optimizer=muon`` gives ``param`` to Muon: the 2-D matrices inside the transformer blocks
    (attention and feed-forward). Embeddings, the output layer, a copy head, norms and biases stay with AdamW."""
    return param.dim() == 2 and name.startswith("blocks.")


def build_optimizer(model: nn.Module, settings: TrainSettings, device: torch.device | None = None
                    ) -> torch.optim.Optimizer:
    """AdamW with two groups: weight decay on matrices (linear layers, embeddings), none on biases and norms.

    Decaying a norm's scale or a bias pulls it towards 0, which only hurts; the matrices are what decay
    regularises. A tied matrix is one parameter and is listed once. On CUDA the fused kernel is used.
    ``settings.optimizer="muon"`` moves the blocks' matrices (``muon_parameter``) into a third group trained by
    Muon at ``settings.muon_lr`` (``t2sql_lib.muon.MuonAdamW``, no weight decay); the rest is AdamW as above.
    """
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer={settings.optimizer!r}: expected one of {OPTIMIZERS}")
    use_muon = settings.optimizer == "muon"
    muon, decay, no_decay = [], [], []
    for name, param in model.named_parameters():  # named_parameters() yields a shared parameter once
        if param.requires_grad:
            if use_muon and muon_parameter(name, param):
                muon.append(param)
            else:
                (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay, "name": "decay"},
              {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"}]
    betas = (settings.beta1, settings.beta2)
    if use_muon:
        if not muon:
            raise ValueError("train.optimizer=muon found no trainable 2-D matrix under 'blocks.' to give Muon")
        from .muon import MuonAdamW

        # no weight decay on Muon's matrices (what the demo measured): at muon_lr 0.01, 0.1 would shrink them 0.1% a step
        groups.append({"params": muon, "weight_decay": 0.0, "name": "muon", "muon": True, "lr": settings.muon_lr})
        return MuonAdamW(groups, lr=settings.learning_rate, betas=betas, momentum=settings.muon_momentum)
    fused = device is not None and torch.device(device).type == "cuda"
    return torch.optim.AdamW(groups, lr=settings.learning_rate, betas=betas, fused=fused or None)


# ----------------------------------------------------------------------------------------------------
# Hardware: precision, TF32, torch.compile
# ----------------------------------------------------------------------------------------------------

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


def input_tokens(x: torch.Tensor | Mapping[str, torch.Tensor]) -> int:
    """Tokens the model reads for a batch's inputs (pads included): see ``train``'s two kinds of input."""
    return sum(t.numel() for t in _token_tensors(x))


def to_device(x: torch.Tensor | Mapping[str, torch.Tensor], device: torch.device | str
              ) -> torch.Tensor | dict[str, torch.Tensor]:
    """A batch's inputs (a tensor, or a mapping of tensors) on ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    return {k: v.to(device, non_blocking=True) for k, v in x.items()}


def call_model(model: nn.Module, x: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``model(x)`` for a tensor, ``model(**x)`` for a mapping (keyword arguments of the model's forward)."""
    return model(x) if isinstance(x, torch.Tensor) else model(**x)


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


def wall_clock() -> float:
    """Seconds on a monotonic clock: what ``checkpoint_every_minutes`` measures (tests replace it)."""
    return time.monotonic()


# ----------------------------------------------------------------------------------------------------
# Random state: seeding, saving, restoring
# ----------------------------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and every GPU's) generators."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed % 2**32)


def get_rng_state() -> dict[str, Any]:
    """Every generator's state (Python, NumPy, torch CPU, and CUDA when in use), as checkpointable values."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    with contextlib.suppress(ImportError):
        import numpy as np

        state["numpy"] = np.random.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what ``get_rng_state`` returned (also after a trip through a checkpoint)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    if "numpy" in state:
        import numpy as np

        np.random.set_state(tuple(state["numpy"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [torch.as_tensor(s, dtype=torch.uint8).cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (an evaluation) without moving the training's random streams."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


# ----------------------------------------------------------------------------------------------------
# Metrics: CSV logs, a JSON summary, a plot
# ----------------------------------------------------------------------------------------------------

class CsvLog:
    """A CSV file of one row per step, appended as rows arrive and rewritten when a new column appears.

    ``keep_until`` (a resumed run) keeps the rows up to that step and drops the rest, which a crashed
    run logged after its last checkpoint and which the resumed run will log again.
    """

    def __init__(self, path: Path, keep_until: int | None = None, enabled: bool = True):
        self.path, self.enabled = path, enabled
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        if keep_until is not None and path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or [])
                self.rows = [r for r in reader if r.get("step") and int(float(r["step"])) <= keep_until]
        if enabled:
            self._rewrite()

    def _rewrite(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore")
        if self.columns:
            writer.writeheader()
            writer.writerows(self.rows)
        write_text_atomic(self.path, buf.getvalue())

    def append(self, row: Mapping[str, Any]) -> None:
        row = {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}  # 8 digits: comparable runs
        self.rows.append(row)
        if not self.enabled:
            return
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
        else:
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(row)


def read_csv_log(path: str | Path) -> list[dict[str, float]]:
    """Rows of a CSV log with numbers as floats (empty cells left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for k, v in row.items():
                if v not in (None, ""):
                    with contextlib.suppress(ValueError):
                        parsed[k] = float(v)
            out.append(parsed)
    return out


def plot_metrics(run: str | Path | TrainResult, ax=None, smoothing: float = 0.9):
    """Plot a run's training loss (raw and smoothed), its validation loss, and other evaluation metrics
    (accuracies) on a second axis. ``run`` is a run folder or a ``TrainResult``; returns the figure."""
    import matplotlib.pyplot as plt

    folder = Path(run.out_dir if isinstance(run, TrainResult) else run)
    train_rows, eval_rows = read_csv_log(folder / TRAIN_LOG), read_csv_log(folder / EVAL_LOG)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    if train_rows:
        steps = [r["step"] for r in train_rows]
        losses = [r["loss"] for r in train_rows]
        smooth, ema = [], None
        for x in losses:  # exponential moving average, bias-free start
            ema = x if ema is None else smoothing * ema + (1 - smoothing) * x
            smooth.append(ema)
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=1)
        ax.plot(steps, smooth, color="tab:blue", lw=1.5, label="train loss")
    loss_keys = sorted({k for r in eval_rows for k in r if k != "step" and "loss" in k})
    other_keys = sorted({k for r in eval_rows for k in r if k != "step" and "loss" not in k and "ppl" not in k})
    for key in loss_keys:
        pts = [(r["step"], r[key]) for r in eval_rows if key in r]
        ax.plot(*zip(*pts), marker="o", lw=1.5, label=key.replace("_", " "))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if other_keys:
        ax2 = ax.twinx()
        for key, color in zip(other_keys, ("tab:green", "tab:red", "tab:purple", "tab:brown")):
            pts = [(r["step"], r[key]) for r in eval_rows if key in r]
            ax2.plot(*zip(*pts), marker="s", lw=1.5, ls="--", color=color, label=key.replace("_", " "))
        ax2.set_ylabel("metric")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_loss(model: nn.Module, dataset: Dataset, *, batch_size: int, device: torch.device | str = "cpu",
                  precision: Precision | None = None, max_batches: int = 0, collate_fn: Callable | None = None,
                  loss_fn: Callable = lm_loss_sum) -> dict[str, float]:
    """``{"val_loss", "val_ppl"}``: the mean loss per scored token over ``dataset`` (in order, the first
    ``max_batches`` batches; 0 for all), in eval mode, and its exponential (perplexity)."""
    device = torch.device(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i, (x, y) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        x, y = to_device(x, device), y.to(device)
        with precision.autocast() if precision else contextlib.nullcontext():
            total += float(loss_fn(call_model(model, x), y))
        count += int((y != IGNORE_INDEX).sum())
    model.train(was_training)
    loss = total / max(count, 1)
    return {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0))}


# ----------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What a run did: losses per step, evaluations, the best metric, why it stopped, and where it wrote."""

    out_dir: Path
    step: int
    losses: list[float] = field(default_factory=list)  # one per step this call ran (resumed steps excluded)
    evals: list[dict[str, float]] = field(default_factory=list)  # {"step": ..., metric: value, ...}
    best_metric: float | None = None
    best_step: int | None = None
    stopped_early: bool = False
    tokens_per_s: float = 0.0  # training tokens (all processes) per second of training, evaluation excluded
    mfu: float | None = None  # model FLOPs utilisation over the run (None on a CPU, in fp32 or on an unknown GPU)
    peak_flops: float | None = None  # the peak FLOP/s of one device that ``mfu`` is measured against
    peak_memory_bytes: int | None = None  # CUDA only: torch.cuda.max_memory_allocated
    precision: str = "fp32"
    compiled: bool = False
    checkpoint: Path | None = None  # the latest checkpoint folder written


def throughput_line(step: int, interval: Mapping[str, float], peak: float | None, world_size: int = 1,
                    has_flops: bool = True) -> str:
    """``step 100: loss 2.3456, 51,234 tokens/s, MFU 38.2%`` for the steps of ``interval`` (sums of time,
    tokens, flops, loss and steps since the last line); the MFU reads ``unknown`` without a known peak."""
    seconds, steps = max(interval["time"], 1e-12), max(interval["steps"], 1)
    mfu = model_flops_utilisation(interval["flops"], seconds, peak, world_size) if has_flops else None
    shown = "unknown (no peak FLOP/s for this device)" if mfu is None else f"{mfu:.1%}"
    return (f"step {step}: loss {interval['loss'] / steps:.4f}, {interval['tokens'] / seconds:,.0f} tokens/s, "
            f"MFU {shown}")


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


# Model settings that a checkpoint's weights depend on: a resumed run must use the saved ones.
_SHAPE_SETTINGS = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "qkv_bias", "tie_weights",
                   "pos_encoding", "copy_head")


def _restore_checkpoint(path: str | Path, raw: nn.Module, ema: EMA | None, optimizer, scheduler, precision: Precision,
                        env: DistEnv, config: Mapping[str, Any] | None, settings: TrainSettings) -> dict[str, Any]:
    """Load a checkpoint into the model, optimizer, scheduler, scaler, EMA and RNGs for a resumed run; returns its
    ``path``, ``step``, ``tokens_seen``, ``data`` position, ``best_metric``, ``best_step``, ``bad_evals`` and ``ema``.

    Model settings that differ from the saved ones, or a damaged file, are a one-line ValueError naming the file.
    """
    folder = resolve_checkpoint(path)  # warns when LATEST is damaged and the newest complete one is used
    saved = (read_checkpoint_info(folder).get("config") or {}).get("model")
    current = (config or {}).get("model")
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        diffs = [f"model.{k}={saved[k]!r} (this run: {current[k]!r})" for k in _SHAPE_SETTINGS
                 if k in saved and k in current and saved[k] != current[k]]
        if diffs:
            raise ValueError(f"{folder / STATE_FILE}: the run was saved with {', '.join(diffs)}; resume with the "
                             "settings it was saved with")
    ckpt = load_checkpoint(folder, model=raw, map_location="cpu")
    state = ckpt["state"]
    try:
        if "ema" in state:  # the checkpoint's model is the average: the trained weights are in its state
            if ema is not None:
                ema.load_state_dict(state["ema"], raw.state_dict())
            raw.load_state_dict(state["ema"]["trained"])
        elif ema is not None:
            warnings.warn("ema_decay is on but the checkpoint has no average: it starts from the loaded weights",
                          stacklevel=3)
            ema = EMA(raw, settings.ema_decay)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        precision.scaler.load_state_dict(state["scaler"])
        progress, data = state["progress"], state["data"]
        resumed = {"path": ckpt["path"], "step": ckpt["step"], "tokens_seen": progress["tokens_seen"],
                   "data": {"epoch": data["epoch"], "batches_consumed": data["batches_consumed"]},
                   "best_metric": progress["best_metric"], "best_step": progress["best_step"],
                   "bad_evals": progress["bad_evals"], "ema": ema}
        saved_world, rngs = progress["world_size"], state["rng"]
        set_rng_state(rngs[env.rank % len(rngs)])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        raise ValueError(f"{folder / STATE_FILE}: the training state does not fit this run; resume with the "
                         f"settings it was saved with ({' '.join(lines[:2])[:300]})") from None
    if saved_world != env.world_size:
        warnings.warn(f"resuming a {saved_world}-process run on {env.world_size}: the data order "
                      "changes from here on", stacklevel=3)
    return resumed


def train(model: nn.Module, train_data: Dataset, *, settings: TrainSettings, out_dir: str | Path | None = None,
          val_data: Dataset | None = None, eval_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = lm_loss_sum,
          collate_fn: Callable | None = None, resume_from: str | Path | bool | None = None,
          stop_at_step: int | None = None, config: Mapping[str, Any] | None = None,
          tokenizer: str | Mapping | None = None, env: DistEnv | None = None,
          device: str | torch.device | None = None,
          progress: bool = True, verbose: bool = True, keep_checkpoints: int = 1,
          callback: Callable[[TrainResult], None] | None = None,
          wrap_model: Callable[[nn.Module], nn.Module] | None = None) -> TrainResult:
    """Train ``model`` on ``train_data`` for ``settings.max_steps`` optimizer steps; see the module docstring.

    - ``train_data``/``val_data``: datasets of ``(input_ids, target_ids)`` (batched by ``collate_fn``, default
      stacking). ``settings.batch_size`` is per process and micro-batch: a step sees ``batch_size *
      grad_accum_steps * world_size`` sequences.
    - Inputs are a tensor, fed as ``model(inputs)``, or a mapping of tensors, fed as ``model(**inputs)`` to the
      module ``wrap_model(model)`` returns (e.g. ``sft.SharedSchemaLM``, which reads several questions after one
      schema); the wrapper shares the model's parameters, and checkpoints hold the model itself.
    - Every ``settings.eval_every`` steps and at the end: the validation loss of ``val_data`` (if given) and
      ``eval_fn(model)`` (if given, any metrics) are logged, ``settings.early_stopping_metric`` picks the best
      checkpoint and, after ``early_stopping_patience`` evaluations without improvement, stops the run.
      Under DDP, rank 0 evaluates alone (``eval_fn`` must not call collectives) and shares the metrics.
      A checkpoint (``out_dir/checkpoints``) is written at each evaluation, at ``stop_at_step``, and once
      ``settings.checkpoint_every_minutes`` of wall time have passed since the last one (rank 0's clock decides).
    - ``settings.ema_decay`` > 0: an exponential moving average of the weights (``t2sql_lib.ema.EMA``), updated
      after every optimizer step, is what the evaluations score and what a checkpoint holds as its model (the
      trained weights travel in its state, so a resumed run goes on from them); at the end the model holds the
      average.
    - Every ``settings.log_every`` steps a line gives the interval's loss, tokens/s and model FLOPs
      utilisation (``peak_flops``); the CSV log has both for every step.
    - ``resume_from``: a checkpoint folder or checkpoints root, ``True`` for ``out_dir/checkpoints`` (a fresh
      start, said aloud, when it holds no trace of a run; FileNotFoundError when it holds traces but no complete
      checkpoint: ``checkpoint.find_resume_checkpoint``), None for a fresh start. The resumed run continues
      exactly: same data order, same random draws, same optimizer and schedule state. Model settings other than
      the saved ones, or a damaged checkpoint file, are a one-line ValueError naming the file.
    - ``stop_at_step``: stop (with a checkpoint) after this step, keeping the schedule of ``max_steps``.
    - ``callback(result)`` runs on rank 0 after each ``log_every`` line and each evaluation, with the logs on disk
      up to date: a notebook redraws a live loss plot with it (``plot_metrics(result)``).
    - ``config``/``tokenizer`` are stored in every checkpoint. ``env`` defaults to ``setup_distributed()``
      (DDP under ``torchrun``); ``device`` overrides its device. The model is moved to the device in place.
    """
    env = env or setup_distributed(device=device)
    dev = torch.device(device) if device is not None else env.device
    out = Path(out_dir) if out_dir is not None else outputs_dir() / "runs" / "train"
    ckpt_root = out / CHECKPOINTS
    if settings.early_stopping_mode not in ("min", "max"):
        raise ValueError(f"early_stopping_mode {settings.early_stopping_mode!r}: expected 'min' or 'max'")
    if settings.grad_accum_steps < 1 or settings.batch_size < 1 or settings.max_steps < 1:
        raise ValueError("batch_size, grad_accum_steps and max_steps must be at least 1")

    raw = unwrap_model(model).to(dev)
    ema = EMA(raw, settings.ema_decay) if settings.ema_decay else None  # EMA refuses a decay outside (0, 1)
    precision = setup_precision(settings, dev)
    optimizer = build_optimizer(raw, settings, dev)
    schedule = WarmupCosine(settings.warmup_steps, settings.max_steps, settings.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    # --- fresh start or resume
    step, tokens_seen, data_pos = 0, 0, {"epoch": 0, "batches_consumed": 0}
    best_metric, best_step, bad_evals = None, None, 0
    if resume_from is True:
        resume_path = find_resume_checkpoint(ckpt_root)  # FileNotFoundError: a run's traces but no checkpoint
        if resume_path is None and verbose and env.is_main:
            print(f"no checkpoint in {ckpt_root}: nothing to resume, starting at step 0")
    else:
        resume_path = resume_from or None
    if resume_path is not None:
        r = _restore_checkpoint(resume_path, raw, ema, optimizer, scheduler, precision, env, config, settings)
        step, tokens_seen, data_pos, ema = r["step"], r["tokens_seen"], r["data"], r["ema"]
        best_metric, best_step, bad_evals = r["best_metric"], r["best_step"], r["bad_evals"]
        if verbose and env.is_main:
            print(f"resumed from {r['path']} at step {step}")
    else:
        seed_everything(settings.seed + env.rank)  # each rank its own dropout masks; same weights via DDP
        if env.is_main and resume_from is None and verbose and has_checkpoint(ckpt_root):
            print(f"starting at step 0 in {out}: the checkpoints of the run there are replaced at the first save "
                  "(resuming would continue that run)")
        if env.is_main and (ckpt_root / BEST).is_file():
            (ckpt_root / BEST).unlink()  # an earlier run's best is not this run's; LATEST is replaced at the first save

    compiled_model, is_compiled = maybe_compile(raw, settings, dev)
    fed_model = wrap_model(compiled_model) if wrap_model is not None else compiled_model  # what the batches go to
    ddp_model = wrap_ddp(fed_model, env)
    stream = _BatchStream(train_data, settings.batch_size, settings.seed, env, collate_fn,
                          epoch=data_pos["epoch"], consumed=data_pos["batches_consumed"])
    resumed_at = step if step > 0 else None
    train_log = CsvLog(out / TRAIN_LOG, keep_until=resumed_at, enabled=env.is_main)
    eval_log = CsvLog(out / EVAL_LOG, keep_until=resumed_at, enabled=env.is_main)
    result = TrainResult(out_dir=out, step=step, best_metric=best_metric, best_step=best_step,
                         precision=precision.name, compiled=is_compiled)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def save(best: bool = False) -> Path | None:
        """Every rank hands in its RNG state; rank 0 writes; all wait until the checkpoint exists."""
        rngs = all_gather_objects(get_rng_state(), env)
        path = None
        if env.is_main:
            state = {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": precision.scaler.state_dict(), "rng": rngs, "data": stream.state(),
                "progress": {"tokens_seen": tokens_seen, "best_metric": best_metric, "best_step": best_step,
                             "bad_evals": bad_evals, "world_size": env.world_size},
            }
            info = {"config": dict(config or {}), "settings": dataclasses.asdict(settings),
                    "precision": precision.name, "last_eval": result.evals[-1] if result.evals else None}
            with ema.applied(raw) if ema is not None else contextlib.nullcontext() as trained:
                # the model is the average; the trained weights go in the state, as the copies applied() made (one
                # tensor per key: safetensors refuses the shared tensor of tied weights)
                if ema is not None:
                    state["ema"] = {**ema.state_dict(), "trained": trained}
                path = save_checkpoint(ckpt_root, model=raw, step=step, state=state, info=info, tokenizer=tokenizer,
                                       best=best, keep=keep_checkpoints)
        barrier(env)
        return path

    def evaluate() -> dict[str, float]:
        """Rank 0 evaluates the unwrapped model, without touching the random streams; all ranks get the metrics."""
        metrics: dict[str, float] = {}
        if env.is_main:
            with preserved_rng(), ema.applied(raw) if ema is not None else contextlib.nullcontext():
                if val_data is not None:
                    # rank 0 evaluates alone, at the global batch size: the same batches whatever the world size
                    metrics.update(evaluate_loss(fed_model, val_data,
                                                 batch_size=settings.batch_size * env.world_size, device=dev,
                                                 precision=precision, max_batches=settings.eval_batches,
                                                 collate_fn=collate_fn, loss_fn=loss_fn))
                if eval_fn is not None:
                    was_training = raw.training
                    raw.eval()
                    with torch.no_grad(), precision.autocast():
                        metrics.update({k: float(v) for k, v in eval_fn(raw).items()})
                    raw.train(was_training)
        return broadcast_object(metrics, env)

    bar = tqdm(total=settings.max_steps, initial=step, desc="train", disable=not (progress and env.is_main),
               dynamic_ncols=True)
    last_stop = min(settings.max_steps, stop_at_step) if stop_at_step is not None else settings.max_steps
    train_time, train_tokens, train_flops = 0.0, 0, 0.0
    peak = peak_flops(dev, precision.name)
    result.peak_flops = peak
    interval = {"time": 0.0, "tokens": 0, "flops": 0.0, "loss": 0.0, "steps": 0}  # since the last log line
    checkpoint_seconds = settings.checkpoint_every_minutes * 60.0
    last_checkpoint_time = wall_clock()
    ddp_model.train()
    try:
        while step < last_stop:
            t0 = time.perf_counter()
            micro = [stream.next() for _ in range(settings.grad_accum_steps)]
            # Every scored token of the step, on every rank, weighs 1 / n_scored: the mean over the global batch.
            n_local = sum(int((y != IGNORE_INDEX).sum()) for _, y in micro)
            n_scored = float(all_reduce_sum(torch.tensor(float(n_local), device=dev), env))
            # DDP averages gradients over ranks, so each rank's sum is scaled by world_size / n_scored.
            scale = env.world_size / max(n_scored, 1.0)
            loss_sum = torch.zeros((), device=dev)
            for i, (x, y) in enumerate(micro):
                x, y = to_device(x, dev), y.to(dev, non_blocking=True)
                last = i == len(micro) - 1
                # Gradients are only exchanged between ranks on the last micro-batch of a step.
                sync = contextlib.nullcontext() if last or not env.distributed else ddp_model.no_sync()
                with sync:
                    with precision.autocast():
                        batch_loss = loss_fn(call_model(ddp_model, x), y)  # summed over the micro-batch's scored tokens
                    precision.scaler.scale(batch_loss * scale).backward()
                loss_sum += batch_loss.detach().float()
            precision.scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
            max_norm = settings.grad_clip if settings.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(raw.parameters(), max_norm))
            lr = optimizer.param_groups[0]["lr"]
            precision.scaler.step(optimizer)  # skipped by the scaler when fp16 gradients overflowed
            precision.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            if ema is not None:
                ema.update(raw)
            step_loss = float(all_reduce_sum(loss_sum, env)) / max(n_scored, 1.0)
            step += 1
            step_tokens = sum(input_tokens(x) for x, _ in micro) * env.world_size
            flops = step_flops(raw, [x for x, _ in micro])
            flops = flops * env.world_size if flops is not None else None  # every rank's batch is alike in shape
            tokens_seen += step_tokens
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)  # the step's kernels are queued; time them, not their launch
            dt = time.perf_counter() - t0
            train_time, train_tokens = train_time + dt, train_tokens + step_tokens
            train_flops += flops or 0.0
            result.losses.append(step_loss)
            result.step = step
            mfu = model_flops_utilisation(flops, dt, peak, env.world_size) if flops is not None else None
            row = {"step": step, "epoch": stream.epoch, "lr": lr, "loss": step_loss, "grad_norm": grad_norm,
                   "tokens": tokens_seen, "tokens_per_s": step_tokens / dt}
            if mfu is not None:
                row["mfu"] = mfu
            train_log.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            for key, value in (("time", dt), ("tokens", step_tokens), ("flops", flops or 0.0), ("loss", step_loss),
                               ("steps", 1)):
                interval[key] += value
            logged = settings.log_every > 0 and step % settings.log_every == 0
            if logged and env.is_main and verbose:
                bar.write(throughput_line(step, interval, peak, env.world_size, flops is not None))
            if logged:
                interval = dict.fromkeys(interval, 0)
            if not math.isfinite(step_loss) and precision.name != "fp16":
                raise FloatingPointError(f"step {step}: loss is {step_loss}; lower the learning rate")

            is_eval = (settings.eval_every > 0 and step % settings.eval_every == 0) or step == settings.max_steps
            improved = False
            if is_eval:
                metrics = evaluate()
                if metrics:
                    result.evals.append({"step": step, **metrics})
                    eval_log.append({"step": step, **metrics})
                    name = settings.early_stopping_metric
                    if name in metrics:
                        if _better(metrics[name], best_metric, settings.early_stopping_mode):
                            best_metric, best_step, bad_evals, improved = metrics[name], step, 0, True
                        else:
                            bad_evals += 1
                    elif settings.early_stopping_patience > 0:
                        raise ValueError(f"early_stopping_metric {name!r} is not among the metrics "
                                         f"{sorted(metrics)}")
                    result.best_metric, result.best_step = best_metric, best_step
                    if verbose and env.is_main:
                        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                        bar.write(f"step {step}: {shown}" + (" (best)" if improved else ""))
            patience_out = settings.early_stopping_patience > 0 and bad_evals >= settings.early_stopping_patience
            time_is_up = False
            if checkpoint_seconds > 0:  # rank 0's clock decides, so that every rank joins the same save
                time_is_up = broadcast_object(wall_clock() - last_checkpoint_time >= checkpoint_seconds, env)
            if is_eval or step == last_stop or patience_out or time_is_up:
                result.checkpoint = save(best=improved)
                last_checkpoint_time = wall_clock()
                if time_is_up and not (is_eval or step == last_stop) and verbose and env.is_main:
                    bar.write(f"step {step}: checkpoint after {settings.checkpoint_every_minutes:g} min")
            if callback is not None and env.is_main and (logged or is_eval):
                callback(result)
            if patience_out:
                result.stopped_early = True
                if verbose and env.is_main:
                    bar.write(f"early stop at step {step}: no better {settings.early_stopping_metric} in "
                              f"{bad_evals} evaluations (best {best_metric:.4f} at step {best_step})")
                break
    finally:
        bar.close()
    if ema is not None:  # what was evaluated and checkpointed
        raw.load_state_dict(ema.shadow)

    result.tokens_per_s = train_tokens / train_time if train_time > 0 else 0.0
    result.mfu = model_flops_utilisation(train_flops, train_time, peak, env.world_size) if train_flops else None
    if dev.type == "cuda":
        result.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
    if env.is_main:
        summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(result).items()
                   if k != "losses"}
        summary.update(final_loss=result.losses[-1] if result.losses else None, world_size=env.world_size,
                       device=str(dev), settings=dataclasses.asdict(settings))
        write_text_atomic(out / METRICS_JSON, json.dumps(summary, indent=1) + "\n")
    return result


# ----------------------------------------------------------------------------------------------------
# The default task (language-model pretraining) and the command line
# ----------------------------------------------------------------------------------------------------

def byte_tokenizer_json() -> str:
    """The description stored with a model trained on raw UTF-8 bytes (ids 0-255)."""
    return json.dumps({"type": "bytes", "vocab_size": 256})


def load_text_tokenizer(spec: str = "bytes", train_texts: Sequence[str] | None = None, vocab_size: int = 4096
                        ) -> tuple[Callable[[str], torch.Tensor], int, str]:
    """``(encode, n_vocab, tokenizer JSON)`` for ``spec``.

    ``bytes``: UTF-8 bytes (ids 0-255). With chapter 1's ``t2sql_lib.tokenizer``: ``bpe`` trains a
    ``BPETokenizer`` of ``vocab_size`` ids on ``train_texts`` (deterministic, seconds at course sizes);
    ``gpt2`` is GPT-2's; anything else is the path of a tokenizer that ``BPETokenizer.save`` wrote.
    """
    if spec == "bytes":
        return (lambda text: torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long(),
                256, byte_tokenizer_json())
    try:
        from .tokenizer import BPETokenizer, load_tokenizer
    except ImportError as err:
        raise ValueError(f"tokenizer {spec!r}: needs chapter 1's t2sql_lib.tokenizer ({err})") from err
    if spec == "bpe":
        if not train_texts:
            raise ValueError("tokenizer 'bpe' needs texts to train on")
        tok = BPETokenizer.train(train_texts, vocab_size=vocab_size)
    else:
        tok = load_tokenizer(spec)
    described = tok.to_dict() if hasattr(tok, "to_dict") else {"type": "tiktoken", "name": str(spec)}
    return (lambda text: torch.tensor(tok.encode(text, allowed_special="all"), dtype=torch.long),
            tok.n_vocab, json.dumps(described, ensure_ascii=False))


def default_tokenizer_spec() -> str:
    """``bpe`` once chapter 1's tokenizer is in the library, ``bytes`` before."""
    import importlib

    try:
        importlib.import_module("t2sql_lib.tokenizer")
    except ImportError:
        return "bytes"
    return "bpe"


def build_lm_data(preset: Preset, data: str = "synth", seq_len: int | None = None, synthetic_tokens: int = 1 << 18,
                  tokenizer: str = "auto") -> tuple[Dataset, Dataset, str | None]:
    """``(train, validation, tokenizer JSON)`` token-stream datasets for pretraining.

    ``synthetic``: ``synthetic_token_stream`` (90% train, 10% validation). ``synth``: the generated
    dataset's training examples as prompt + SQL text (``t2sql_lib.prompts.build_example_text``), the
    validation split's for validation, encoded by ``load_text_tokenizer(tokenizer)``; ``auto`` is a
    BPE tokenizer of ``data.tokenizer_vocab_size`` ids trained on the training texts (bytes before
    chapter 1 is exported).
    """
    seq_len = seq_len or preset.model.context_length
    if data == "synthetic":
        tokens = synthetic_token_stream(synthetic_tokens, preset.model.vocab_size, seed=preset.train.seed)
        cut = int(len(tokens) * 0.9)
        return SlidingWindowDataset(tokens[:cut], seq_len), SlidingWindowDataset(tokens[cut:], seq_len), None
    if data != "synth":
        raise ValueError(f"--data {data!r}: expected 'synth' or 'synthetic'")
    from .prompts import build_example_text
    from .synth import load_generated

    splits = load_generated(n_examples=preset.data.n_synth_examples, splits=("train", "validation"))
    # one example after another: build_example_text ends each with <|endoftext|>, the separator
    texts = {name: [build_example_text(ex) for ex in examples] for name, examples in splits.items()}
    spec = default_tokenizer_spec() if tokenizer == "auto" else tokenizer
    encode, n_vocab, tokenizer_json = load_text_tokenizer(spec, texts["train"], preset.data.tokenizer_vocab_size)
    if n_vocab > preset.model.vocab_size:
        raise ValueError(f"the tokenizer has {n_vocab} ids but model.vocab_size is {preset.model.vocab_size}")
    return (SlidingWindowDataset(encode("".join(texts["train"])), seq_len),
            SlidingWindowDataset(encode("".join(texts["validation"])), seq_len), tokenizer_json)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``t2sql train`` / ``python -m t2sql_lib.train``."""
    p.add_argument("--config", default=None, metavar="YAML|PRESET",
                   help="a preset name (tiny, laptop, gpu-t4, gpu) or a YAML/JSON file (default: chosen from the "
                        "hardware, or $T2SQL_PRESET)")
    p.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="settings to change, e.g. train.max_steps=100 model.n_layers=2")
    p.add_argument("--task", choices=("lm", "sft"), default="lm",
                   help="lm: pretrain a language model (default); sft: chapter 8's text-to-SQL pipeline "
                        "(fine-tune, then score every test set with several decoders and save the model)")
    p.add_argument("--data", default="synth", metavar="NAME[,NAME...]",
                   help="--task lm: synth (the generated dataset's text) or synthetic (a deterministic token "
                        "stream); --task sft: synth, wikisql, spider, or several mixed (synth,wikisql)")
    p.add_argument("--eval-data", default=None, metavar="NAME[,NAME...]",
                   help="--task sft: test sets to score (default: those of --data)")
    p.add_argument("--init", default="scratch", metavar="scratch|gpt2|gpt2-medium|FILE",
                   help="--task sft: random weights at the preset's shape, or GPT-2 weights (124M, 355M, a file)")
    p.add_argument("--spider-dir", default=None, metavar="DIR",
                   help="--task sft: a Spider folder (default: $T2SQL_SPIDER_DIR, data/raw/spider, ...)")
    p.add_argument("--wikisql-dir", default=None, metavar="DIR",
                   help="--task sft: a folder in WikiSQL's format (default: the official release, downloaded once)")
    p.add_argument("--decoders", default=",".join(("greedy", "constrained", "execution_guided")),
                   metavar="NAME[,NAME...]", help="--task sft: decoders scored on every test set")
    p.add_argument("--test-examples", default="200", metavar="N|all",
                   help="--task sft: questions scored per test set (default: 200, a seeded sample)")
    p.add_argument("--val-examples", type=int, default=50,
                   help="--task sft: validation questions decoded at each evaluation (default: 50; 0: none)")
    p.add_argument("--tokenizer", default="auto", metavar="auto|bpe|bytes|gpt2|FILE",
                   help="--data synth: a BPE tokenizer trained on the training text (auto, bpe), UTF-8 bytes, "
                        "GPT-2's, or a saved chapter-1 tokenizer file; --task sft: auto (GPT-2's with GPT-2 "
                        "weights, else bpe), bpe or gpt2")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (default: outputs/runs/<preset>; --task sft: outputs/pipeline/<preset>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's latest checkpoint (its newest complete one when LATEST is damaged; "
                        "a fresh start when the folder holds no trace of a run, an error when it holds no "
                        "complete checkpoint)")
    p.add_argument("--resume-from", default=None, metavar="CKPT", help="continue from this checkpoint folder")
    p.add_argument("--stop-at-step", type=int, default=None, help="stop (with a checkpoint) after this step")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens per training sequence (default: model.context_length)")
    p.add_argument("--synthetic-tokens", type=int, default=1 << 18, help="length of the --data synthetic stream")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: a GPU when there is one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train_command(args: argparse.Namespace) -> int:
    """Build the preset, model and data that ``args`` describe, train, and print a summary."""
    from .config import get_preset
    from .model import GPTConfig, GPTModel

    if args.task == "sft":
        from .pipeline import run_sft_command

        return run_sft_command(args)
    if args.data not in ("synth", "synthetic"):
        raise ValueError(f"--data {args.data!r}: --task lm takes 'synth' or 'synthetic' (wikisql and spider "
                         "are for --task sft)")
    preset = get_preset(args.config).with_overrides(list(args.overrides))
    env = setup_distributed(device=args.device)
    try:
        train_data, val_data, tokenizer = build_lm_data(preset, args.data, args.seq_len, args.synthetic_tokens,
                                                       args.tokenizer)
        torch.manual_seed(preset.train.seed)  # the same initial weights on every rank (DDP also broadcasts them)
        model = GPTModel(GPTConfig(**dataclasses.asdict(preset.model)))
        out = Path(args.out) if args.out else outputs_dir() / "runs" / preset.name
        if env.is_main:
            print(f"preset {preset.name}: {model.num_parameters() / 1e6:.2f}M parameters, {len(train_data)} "
                  f"training sequences, {env.world_size} process(es) on {env.device}, run folder {out}")
        result = train(model, train_data, val_data=val_data, settings=preset.train, out_dir=out,
                       resume_from=args.resume_from or args.resume or None, stop_at_step=args.stop_at_step,
                       config=preset.to_dict(),
                       tokenizer=tokenizer, env=env, progress=not args.no_progress)
        if env.is_main:
            best = f", best {preset.train.early_stopping_metric} {result.best_metric:.4f} at step " \
                   f"{result.best_step}" if result.best_metric is not None else ""
            final = f"final loss {result.losses[-1]:.4f}, " if result.losses else ""
            print(f"step {result.step}: {final}{result.tokens_per_s:,.0f} tokens/s ({result.precision})"
                  f"{best}; metrics in {out}")
    finally:
        cleanup_distributed()
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to the ``t2sql`` command line's subparsers."""
    p = subparsers.add_parser("train", help="train a GPT: t2sql train --config tiny [section.key=value ...]")
    add_train_arguments(p)
    p.set_defaults(func=run_train_command)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m t2sql_lib.train`` (also under ``torchrun``)."""
    parser = argparse.ArgumentParser(prog="python -m t2sql_lib.train", description=__doc__.split("\n")[0])
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_train_command(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
