"""A model folder: the three files a trained text-to-SQL model is kept and shared as; this module alone reads and
writes them.

- ``model.safetensors``: the ``GPTModel``'s weights;
- ``tokenizer.json``: a ``BPETokenizer`` (chapter 1), or ``{"type": "tiktoken", ...}`` for GPT-2's encoding with
  the course's special tokens;
- ``config.json``: ``{"model": <GPTConfig fields>, ...}`` plus whatever the run that wrote it records (its preset,
  its settings).

``t2sql demo`` and ``t2sql train --task sft`` write one (``save_model_folder``); ``t2sql ask``, the benchmarks and
chapters 6-8 read one (``load_model_folder``). Checkpoints (``t2sql_lib.checkpoint``) store the tokenizer as the
same JSON (``tokenizer_json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import torch

MODEL_FILES = ("model.safetensors", "tokenizer.json", "config.json")
HOW_TO_MAKE_ONE = "train one with `t2sql demo` (it writes outputs/demo) or pass --model DIR"


@dataclass
class LoadedModel:
    """A trained model in eval mode, its tokenizer and the folder's settings."""

    model: torch.nn.Module
    tokenizer: Any
    config: dict[str, Any]
    path: Path


def tokenizer_json(tokenizer: Any) -> str:
    """The JSON that rebuilds ``tokenizer`` (``load_tokenizer_json``): a BPE's merges, or GPT-2's name."""
    if hasattr(tokenizer, "to_dict"):
        return json.dumps(tokenizer.to_dict(), ensure_ascii=False)
    return json.dumps({"type": "tiktoken", "name": "gpt2-t2sql"})


def load_tokenizer_json(data: Any, source: str = "<tokenizer>") -> Any:
    """The tokenizer a parsed ``tokenizer_json`` describes; ``source`` names it in errors."""
    from .tokenizer import BPETokenizer, gpt2_with_special_tokens

    if isinstance(data, dict) and data.get("type") == "tiktoken":
        return gpt2_with_special_tokens()
    return BPETokenizer.from_dict(data, source=source)


def load_tokenizer_file(path: str | Path) -> Any:
    """A model folder's ``tokenizer.json``; a file that is not JSON is a ValueError naming it and the line."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from err
    return load_tokenizer_json(data, source=str(path))


def json_ready(value: Any) -> Any:
    """``value`` as JSON holds it: a dataclass as a dict, tuples as lists, paths and other objects as strings."""
    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    return json.loads(json.dumps(data, default=str))


def save_model_folder(out: str | Path, model: torch.nn.Module, tokenizer: Any,
                      settings: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a ``GPTModel``: its ``cfg`` goes into ``config.json["model"]``), ``tokenizer`` and
    ``settings`` (more sections of ``config.json``, e.g. the preset) into the folder ``out``."""
    from safetensors.torch import save_model

    from .checkpoint import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, str(out / "model.safetensors"))
    write_text_atomic(out / "tokenizer.json", tokenizer_json(tokenizer) + "\n")
    config = {"model": json_ready(model.cfg), **json_ready(settings or {})}
    write_text_atomic(out / "config.json", json.dumps(config, indent=1) + "\n")
    return out


def _model_from_config(path: Path, config: dict[str, Any]) -> torch.nn.Module:
    """The ``GPTModel`` that ``config.json``'s ``"model"`` section describes (random weights)."""
    from .model import GPTConfig, GPTModel

    try:
        model_cfg = GPTConfig(**config["model"])
    except (KeyError, TypeError, ValueError) as err:  # ValueError: GPTConfig's own checks
        raise ValueError(f"{path / 'config.json'}: no valid \"model\" section of GPTConfig fields ({err})") from None
    try:
        return GPTModel(model_cfg)
    except (TypeError, ValueError, RuntimeError) as err:  # fields of the right names but impossible values
        raise ValueError(f"{path / 'config.json'}: the \"model\" section does not describe a GPT ({err})") from None


def load_model_folder(path: str | Path) -> LoadedModel:
    """Load ``model.safetensors``, ``tokenizer.json`` and ``config.json`` from the folder ``path``.

    A missing folder or file raises FileNotFoundError naming it and how to make one; a damaged file is a one-line
    ValueError naming it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no model folder at {path}: {HOW_TO_MAKE_ONE}")
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"the model folder {path} has no {', '.join(missing)}: {HOW_TO_MAKE_ONE}")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path / 'config.json'}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path / 'config.json'}: no valid \"model\" section of GPTConfig fields (not a mapping)")
    model = _model_from_config(path, config)
    tokenizer = load_tokenizer_file(path / "tokenizer.json")
    if tokenizer.n_vocab > model.cfg.vocab_size:
        raise ValueError(f"{path}: the tokenizer has {tokenizer.n_vocab} ids but the model only {model.cfg.vocab_size}")
    weights = path / "model.safetensors"
    try:
        load_model(model, str(weights))
    except SafetensorError as err:  # truncated, or a damaged header
        raise ValueError(f"{weights}: not a readable safetensors file ({err})") from None
    except (OSError, RuntimeError, ValueError) as err:  # weights of another shape than config.json says
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        raise ValueError(f"{weights}: cannot load the weights into the model config.json describes "
                         f"({' '.join(lines[:2])[:300]})") from None
    return LoadedModel(model.eval(), tokenizer, config, path)
