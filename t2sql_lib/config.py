"""Model, training and data presets: one named preset per machine size, picked from the hardware.

A preset's model settings are chapter 3's ``GPTConfig`` itself; training and data have their own settings here.

``get_preset()`` returns ``$T2SQL_PRESET`` when set, otherwise a preset chosen from the hardware
(``gpu`` on a card with native bf16 and 20 GiB or more of reported memory, ``gpu_memory_tier``; ``gpu-t4`` on
a smaller or older card; ``laptop`` on a CPU). Tests and nbval run with ``T2SQL_PRESET=tiny``. Presets
round-trip through YAML/JSON files; ``configs/`` holds the named ones.

Every setting is checked for its type and range when a preset is built from a file or overrides
(``check_setting``): a wrong one is a one-line ValueError naming the file (or override) and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import GPTConfig

ENV_VAR = "T2SQL_PRESET"


@dataclass
class TrainSettings:
    """Optimiser and loop settings for ``t2sql_lib.train``."""

    batch_size: int = 16
    grad_accum_steps: int = 1
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    warmup_steps: int = 100
    max_steps: int = 2000
    eval_every: int = 200
    grad_clip: float = 1.0
    precision: str = "auto"  # "auto": bf16 where supported, else fp16 + scaler on GPU, fp32 on CPU
    compile: bool = False
    seed: int = 123
    beta1: float = 0.9  # AdamW's momentum
    beta2: float = 0.95  # AdamW's second-moment decay; GPT training uses 0.95 rather than 0.999
    optimizer: str = "adamw"  # "muon": Muon on the blocks' matrices, AdamW on the rest (t2sql_lib.muon)
    muon_lr: float = 0.01  # Muon's learning rate (its updates are orthogonal); the demo measured 0.005, 0.01, 0.02
    muon_momentum: float = 0.95
    eval_batches: int = 50  # validation batches per evaluation of the default loss (0: the whole set)
    early_stopping_metric: str = "val_loss"  # what picks the best checkpoint and stops training early
    early_stopping_mode: str = "min"  # "min" when lower is better (a loss), "max" for an accuracy
    early_stopping_patience: int = 0  # evaluations without improvement before stopping (0: never stop early)
    log_every: int = 0  # steps between printed throughput lines (tokens/s, model FLOPs utilisation); 0: none
    checkpoint_every_minutes: float = 0.0  # also checkpoint after this much wall time (0: only at evaluations)
    ema_decay: float = 0.0  # > 0: evaluate and keep an exponential moving average of the weights (t2sql_lib.ema)
    max_minutes: float = 0.0  # > 0: stop, evaluated and checkpointed, once this much training time is spent


@dataclass
class DataSettings:
    """How much data a preset uses."""

    n_synth_examples: int = 20_000
    tokenizer_vocab_size: int = 4096
    max_examples_per_dataset: int | None = None  # cap on Spider/WikiSQL examples (None: all)
    # Questions about one database that share one reading of its schema in training (sft.SharedSchemaBatches);
    # 1: every question has a prompt of its own. ``schema_views``: times the questions are grouped, renamed anew.
    questions_per_schema: int = 1
    schema_views: int = 1
    question_variety: float = 0.0  # fraction of training questions reworded by the surface grammar (synth.surface)
    value_hints: bool = False  # append the database values a question names (t2sql_lib.value_hints)
    # fraction of reworded questions whose value's column is left unsaid ("guests from Ghana"; with value hints only)
    implicit_columns: float = 0.0


# Ranges of the numeric settings, and the choices of the named ones; checked by ``check_setting``.
_AT_LEAST_1 = {"vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "batch_size", "grad_accum_steps",
               "max_steps", "tokenizer_vocab_size", "max_examples_per_dataset", "questions_per_schema", "schema_views"}
_AT_LEAST_0 = {"warmup_steps", "eval_every", "eval_batches", "early_stopping_patience", "log_every",
               "checkpoint_every_minutes", "max_minutes", "weight_decay", "grad_clip", "n_synth_examples"}
_POSITIVE = {"learning_rate", "muon_lr"}
_BELOW_1 = {"drop_rate", "beta1", "beta2", "muon_momentum", "ema_decay"}  # 0 <= x < 1
_UP_TO_1 = {"min_lr_ratio", "question_variety", "implicit_columns"}  # 0 <= x <= 1
_CHOICES = {"pos_encoding": ("learned", "rope"), "precision": ("auto", "fp32", "bf16", "fp16"),
            "optimizer": ("adamw", "muon"), "early_stopping_mode": ("min", "max")}
_EXPONENT = r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+"  # 1e-3: YAML 1.1 (PyYAML) reads it as a string


def check_setting(klass: type, key: str, value: Any) -> Any:
    """``value`` checked against the type and range of setting ``key`` of ``klass``; ValueError says what is wrong.

    Returns the value, with an integer given for a float setting made a float, and a number YAML left as a
    string (``1e-3``) read as one.
    """
    kind = {f.name: f.type if isinstance(f.type, str) else f.type.__name__ for f in dataclasses.fields(klass)}[key]
    optional = "None" in kind
    if value is None and optional:
        return value
    base = kind.replace("| None", "").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValueError(f"must be one of {', '.join(_CHOICES[key])}, got {value!r}")
        return value
    if base == "float" and isinstance(value, str) and re.fullmatch(_EXPONENT, value.strip()):
        value = float(value)
    if base == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"must be a whole number, got {value!r}")
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        value = float(value)
    for names, ok, words in ((_AT_LEAST_1, value >= 1, ">= 1"), (_AT_LEAST_0, value >= 0, ">= 0"),
                             (_POSITIVE, value > 0, "> 0"), (_BELOW_1, 0 <= value < 1, "in [0, 1)"),
                             (_UP_TO_1, 0 <= value <= 1, "in [0, 1]")):
        if key in names and not ok:
            raise ValueError(f"must be {words}, got {value!r}")
    return value


def _check_section(klass: type, section: str, values: Any, source: str) -> dict[str, Any]:
    """A section's settings checked one by one; ValueError names ``source`` and the field."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: {section} must be a mapping of settings, got {values!r}")
    names = {f.name for f in dataclasses.fields(klass)}
    bad = set(values) - names
    if bad:
        raise ValueError(f"{source}: unknown {section} settings {sorted(map(str, bad))}; known: {sorted(names)}")
    checked = {}
    for key, value in values.items():
        try:
            checked[key] = check_setting(klass, key, value)
        except ValueError as err:
            raise ValueError(f"{source}: {section}.{key} {err}") from None
    return checked


@dataclass
class Preset:
    """A named bundle of model, training and data settings."""

    name: str
    description: str
    model: GPTConfig = field(default_factory=GPTConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSettings = field(default_factory=DataSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> Preset:
        """Build a preset, naming ``source`` and the offending key on an unknown or mistyped field."""
        unknown = set(d) - {"name", "description", "model", "train", "data"}
        if unknown:
            raise ValueError(f"{source}: unknown preset keys {sorted(map(str, unknown))}")
        for key in ("name", "description"):
            if key in d and not isinstance(d[key], str):
                raise ValueError(f"{source}: {key} must be a string, got {d[key]!r}")
        parts = {}
        for key, klass in (("model", GPTConfig), ("train", TrainSettings), ("data", DataSettings)):
            section = d.get(key)
            try:
                parts[key] = klass(**_check_section(klass, key, {} if section is None else section, source))
            except ValueError as err:  # a check across fields (GPTConfig: emb_dim divisible by n_heads)
                raise ValueError(str(err) if str(err).startswith(source) else f"{source}: {key}: {err}") from None
        return cls(name=d.get("name", Path(source).stem), description=d.get("description", ""), **parts)

    def save(self, path: str | Path) -> Path:
        """Write as YAML (``.yaml``/``.yml``) or JSON (``.json``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        return path

    def with_overrides(self, overrides: list[str]) -> Preset:
        """A copy with ``section.key=value`` overrides applied (values parsed as YAML scalars)."""
        d = self.to_dict()
        for item in overrides:
            if "=" not in item or "." not in item.split("=", 1)[0]:
                raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.max_steps=100")
            dotted, raw = item.split("=", 1)
            section, key = dotted.split(".", 1)
            if section not in ("model", "train", "data") or key not in d[section]:
                raise ValueError(f"override {item!r}: no setting {dotted!r}")
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
            klass = {"model": GPTConfig, "train": TrainSettings, "data": DataSettings}[section]
            try:
                d[section][key] = check_setting(klass, key, value)
            except ValueError as err:
                raise ValueError(f"override {item!r}: {dotted} {err}") from None
        return Preset.from_dict(d, source="overrides")


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        "seconds on one CPU core: tests and nbval",
        GPTConfig(vocab_size=1024, context_length=256, emb_dim=64, n_heads=2, n_layers=2, drop_rate=0.0),
        TrainSettings(batch_size=8, learning_rate=3e-3, warmup_steps=10, max_steps=60, eval_every=20),
        DataSettings(n_synth_examples=2_000, tokenizer_vocab_size=1024, max_examples_per_dataset=500),
    ),
    "laptop": Preset(
        "laptop",
        "minutes on a laptop CPU: the course notebooks run top to bottom",
        GPTConfig(vocab_size=4096, context_length=512, emb_dim=192, n_heads=4, n_layers=4, drop_rate=0.1),
        TrainSettings(batch_size=16, learning_rate=1e-3, warmup_steps=100, max_steps=2_000, eval_every=200),
        DataSettings(n_synth_examples=20_000, tokenizer_vocab_size=4096, max_examples_per_dataset=5_000),
    ),
    # `make demo`: the laptop preset reshaped to train a text-to-SQL model in about 10 minutes on 2 CPU cores
    # (each choice measured in benchmarks/RESULTS.md, "The CPU demo")
    "demo": Preset(
        "demo",
        "`t2sql demo`: a text-to-SQL model trained from scratch in ~10 minutes on 2 CPU cores",
        # narrower and one block deeper than laptop; rotary positions and the copy head learn to copy names sooner
        GPTConfig(vocab_size=4096, context_length=512, emb_dim=128, n_heads=4, n_layers=5, drop_rate=0.0,
                      pos_encoding="rope", copy_head=True),
        # Muon on the blocks' matrices; bf16 where the CPU has it; the weight average is what is kept
        TrainSettings(batch_size=16, learning_rate=2e-3, min_lr_ratio=0.3, warmup_steps=50, max_steps=2_000,
                      eval_every=500, precision="bf16", optimizer="muon", muon_lr=0.01, eval_batches=16,
                      early_stopping_metric="val_loss", early_stopping_mode="min", early_stopping_patience=3,
                      ema_decay=0.99),
        # 1,176 questions about each of the 29 generated databases; a schema read once for 8 questions, 4 groupings
        DataSettings(n_synth_examples=34_104, tokenizer_vocab_size=1024, max_examples_per_dataset=5_000,
                     questions_per_schema=8, schema_views=4),
    ),
    "gpu-t4": Preset(
        "gpu-t4",
        "GPT-2 small (124M) shape on a 16 GB card without bf16 (Colab T4): fp16 + gradient scaler",
        GPTConfig(vocab_size=50304, context_length=1024, emb_dim=768, n_heads=12, n_layers=12, drop_rate=0.1),
        TrainSettings(batch_size=8, grad_accum_steps=4, learning_rate=3e-4, warmup_steps=500,
                      max_steps=20_000, eval_every=1_000, precision="fp16", log_every=100,
                      checkpoint_every_minutes=10.0),
        DataSettings(n_synth_examples=100_000, tokenizer_vocab_size=16_384),
    ),
    "gpu": Preset(
        "gpu",
        "GPT-2 small (124M) shape on an A100/H100: bf16, torch.compile",
        GPTConfig(vocab_size=50304, context_length=1024, emb_dim=768, n_heads=12, n_layers=12, drop_rate=0.1),
        TrainSettings(batch_size=32, grad_accum_steps=1, learning_rate=6e-4, warmup_steps=500,
                      max_steps=20_000, eval_every=1_000, precision="bf16", compile=True, log_every=100,
                      checkpoint_every_minutes=10.0),
        DataSettings(n_synth_examples=100_000, tokenizer_vocab_size=16_384),
    ),
}


# GPU memory tiers, in GiB of the total memory a card reports (``torch.cuda.get_device_properties().total_memory``),
# which is below the size on its box: a T4 "16 GB" reports about 14.7 GiB, an L4 "24 GB" about 22 GiB, an A100
# "40 GB" about 39.4 GiB, an A100 or H100 "80 GB" about 79 GiB, an H200 about 140 GiB.
GPU_TIER_MIN_GIB = {"large": 36.0, "medium": 20.0}  # below "medium": "small"


def gpu_memory_tier(total_memory: int) -> str:
    """``small`` (T4), ``medium`` (L4, 24 GB cards) or ``large`` (A100, H100, H200) for a card's reported bytes."""
    gib = total_memory / 2**30
    return next((tier for tier, floor in GPU_TIER_MIN_GIB.items() if gib >= floor), "small")


def auto_preset_name() -> str:
    """The preset the hardware suggests: ``gpu`` (native bf16, medium or large memory), ``gpu-t4`` or ``laptop``."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        native_bf16 = torch.cuda.get_device_capability(0)[0] >= 8  # Ampere or newer; a T4 only emulates bf16
        return "gpu" if native_bf16 and gpu_memory_tier(props.total_memory) != "small" else "gpu-t4"
    return "laptop"


def load_preset(name_or_path: str | Path) -> Preset:
    """A built-in preset by name, a file under ``configs/`` by name, or a YAML/JSON file by path."""
    key = str(name_or_path)
    if key in PRESETS:
        return dataclasses.replace(PRESETS[key])
    path = Path(name_or_path)
    if not path.exists():
        from .paths import project_root

        root = project_root()
        candidate = root / "configs" / f"{key}.yaml" if root else None
        if candidate is not None and candidate.exists():
            path = candidate
        else:
            raise ValueError(f"unknown preset {key!r}: not one of {sorted(PRESETS)} and no file at {path}")
    text = path.read_text(encoding="utf-8")
    try:
        d = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot parse preset file: {err}") from err
    if not isinstance(d, dict):
        raise ValueError(f"{path}: a preset file must hold a mapping, got {type(d).__name__}")
    return Preset.from_dict(d, source=str(path))


def get_preset(name: str | None = None) -> Preset:
    """The preset to use: ``name``, else ``$T2SQL_PRESET``, else one chosen from the hardware."""
    return load_preset(name or os.environ.get(ENV_VAR) or auto_preset_name())


COURSE_SIZE = "tiny"  # what chapters 0-7 run by default, on every machine: their stored outputs are what a learner gets


def course_preset(default: str = COURSE_SIZE) -> Preset:
    """The preset a chapter runs: ``$T2SQL_PRESET`` when set, else ``default``, whatever the hardware (chapter 8
    alone sizes itself from the hardware, with ``get_preset``)."""
    return load_preset(os.environ.get(ENV_VAR) or default)
