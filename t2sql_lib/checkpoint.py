"""Checkpoints in safetensors + JSON, written so that a crash never leaves a half-written one behind.

A checkpoint is a folder::

    checkpoints/
        step-000120/            one complete checkpoint
            model.safetensors   the model's weights (tied matrices stored once)
            state.safetensors   every other tensor: optimizer moments, ... (flattened, see below)
            state.json          step, config, RNG states, and the structure that puts the tensors back
            tokenizer.json      the tokenizer, when one was given
        LATEST                  the name of the newest complete checkpoint folder
        BEST                    the name of the checkpoint with the best validation metric

Writing goes into a hidden temporary folder, every file is flushed to disk (``fsync``), the folder is
renamed to its final name, and only then is ``LATEST`` replaced, itself through a temporary file and
``os.replace`` (atomic on POSIX and Windows). A crash at any moment leaves ``LATEST`` naming a complete
checkpoint. Folders that neither ``LATEST`` nor ``BEST`` names (beyond the ``keep`` newest) are removed after a
successful save, with the temporary files and folders a killed save left behind; a save never removes the
checkpoint ``BEST`` names, nor any complete checkpoint unless ``LATEST`` names a complete one.

When ``LATEST`` is missing, unreadable or names a folder that is not a complete checkpoint (a copy that lost
it, a hand edit), ``resolve_checkpoint`` falls back to the newest complete checkpoint, with a warning.

Nested state (an optimizer's ``state_dict``, RNG states) is stored by ``flatten_state``: tensors go to
safetensors under generated keys, everything else to JSON with the tensors replaced by references.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
STATE_TENSORS_FILE = "state.safetensors"
STATE_FILE = "state.json"
TOKENIZER_FILE = "tokenizer.json"
LATEST = "LATEST"
BEST = "BEST"


# ----------------------------------------------------------------------------------------------------
# Nested state <-> (JSON skeleton, flat tensor dict)
# ----------------------------------------------------------------------------------------------------

def flatten_state(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split nested state into a JSON-able skeleton and a flat ``{key: tensor}`` dict for safetensors.

    Tensors become ``{"__tensor__": key}``; tuples and dicts whose keys are not all strings (an
    optimizer's state is keyed by parameter index) are tagged so that ``unflatten_state`` rebuilds
    exactly the same types.
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = path or "tensor"
            while key in tensors:  # a dict key with a dot in it could repeat another path
                key += "_"
            # contiguous + clone: safetensors needs dense storage it owns (no views of a shared buffer)
            tensors[key] = value.detach().to("cpu").contiguous().clone()
            return {"__tensor__": key}
        if isinstance(value, Mapping):
            items = list(value.items())
            if all(isinstance(k, str) for k, _ in items) and not any(k.startswith("__") for k, _ in items):
                return {k: encode(v, f"{path}.{k}" if path else k) for k, v in items}
            return {"__dict__": [[encode(k, f"{path}.k{i}"), encode(v, f"{path}.{i}" if path else str(i))]
                                 for i, (k, v) in enumerate(items)]}
        if isinstance(value, tuple):
            return {"__tuple__": [encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if hasattr(value, "tolist"):  # numpy arrays and scalars (numpy's RNG state holds one)
            return {"__array__": value.tolist(), "dtype": str(value.dtype)}
        raise TypeError(f"cannot store {type(value).__name__} at {path or '<root>'} in a checkpoint")

    return encode(obj, prefix), tensors


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of ``flatten_state``."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
        if "__dict__" in skeleton:
            return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__array__" in skeleton:
            import numpy as np

            return np.asarray(skeleton["__array__"], dtype=skeleton["dtype"])
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    return skeleton


# ----------------------------------------------------------------------------------------------------
# Durable file operations
# ----------------------------------------------------------------------------------------------------

def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _chmod_default(path: Path, is_dir: bool) -> None:
    """Give a ``tempfile`` file or folder (created private, 0600/0700) the permissions a plain one would get."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        _chmod_default(Path(tmp), is_dir=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _json_dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, allow_nan=True) + "\n"


# ----------------------------------------------------------------------------------------------------
# Save / load
# ----------------------------------------------------------------------------------------------------

def save_checkpoint(root: str | Path, *, model: nn.Module, step: int, state: Mapping[str, Any] | None = None,
                    info: Mapping[str, Any] | None = None, tokenizer: str | Mapping | None = None,
                    best: bool = False, keep: int = 1) -> Path:
    """Write a checkpoint folder ``root/step-NNNNNN`` atomically and point ``root/LATEST`` at it.

    ``model`` is saved with its tied weights stored once. ``state`` is nested training state (the
    optimizer's, the scheduler's and the gradient scaler's ``state_dict``, RNG states, the data
    position...): its tensors go to ``state.safetensors``, the rest to ``state.json``. ``info`` is plain
    JSON kept as written (config, metrics). ``tokenizer`` (JSON text or a dict) goes to ``tokenizer.json``.
    ``best=True`` also points ``root/BEST`` at this checkpoint. ``keep`` is how many of the newest
    checkpoints to keep besides the one ``BEST`` names. Returns the checkpoint folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    n = 0
    while (root / name).exists():  # the same step saved again (a resumed run): never touch the old folder
        n += 1
        name = f"step-{step:06d}-{n}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))
    try:
        _chmod_default(tmp, is_dir=True)
        save_model(model, str(tmp / MODEL_FILE))
        skeleton, tensors = flatten_state(dict(state or {}))
        save_file(tensors, str(tmp / STATE_TENSORS_FILE))
        meta = {"format_version": FORMAT_VERSION, "step": step, "state": skeleton, "info": dict(info or {})}
        (tmp / STATE_FILE).write_text(_json_dumps(meta), encoding="utf-8")
        if tokenizer is not None:
            text = tokenizer if isinstance(tokenizer, str) else json.dumps(tokenizer, ensure_ascii=False)
            (tmp / TOKENIZER_FILE).write_text(text, encoding="utf-8")
        for f in tmp.iterdir():
            _fsync_file(f)
        _fsync_dir(tmp)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_text_atomic(root / LATEST, name + "\n")
    if best:
        write_text_atomic(root / BEST, name + "\n")
    _prune(root, keep)
    return final


def _read_pointer(root: Path, pointer: str) -> str | None:
    """The folder name a pointer file holds, or None when it is missing, unreadable or not a plain name."""
    path = root / pointer
    try:
        name = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    return name


def is_complete(folder: str | Path) -> bool:
    """Whether ``folder`` holds the three files every checkpoint has (weights, state tensors, state.json)."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in (MODEL_FILE, STATE_TENSORS_FILE, STATE_FILE))


def complete_checkpoints(root: str | Path) -> list[Path]:
    """The complete checkpoint folders under ``root``, oldest first by time written.

    By time, not by name: a resumed run may write step 150 after a crashed run's step 200.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and is_complete(p)]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def _is_temporary(path: Path) -> bool:
    """A temporary file or folder a save writes (``.step-*.tmp``, ``.LATEST.*.tmp``, ``.BEST.*.tmp``)."""
    return path.name.startswith((".step-", f".{LATEST}.", f".{BEST}.")) and path.name.endswith(".tmp")


def _prune(root: Path, keep: int) -> None:
    """Remove leftovers of killed saves and the checkpoints that are neither among the ``keep`` newest nor named
    by ``LATEST``/``BEST``; nothing complete is removed unless ``LATEST`` names a complete checkpoint."""
    latest, best = _read_pointer(root, LATEST), _read_pointer(root, BEST)
    safe = latest is not None and is_complete(root / latest)
    protected = {latest, best} | {p.name for p in complete_checkpoints(root)[-max(keep, 1):]}
    for path in root.iterdir():
        if _is_temporary(path):  # only rank 0 saves, and its own writes are done: these are a killed save's
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        elif path.is_dir() and path.name.startswith("step-") and path.name not in protected:
            if safe or not is_complete(path):
                shutil.rmtree(path, ignore_errors=True)


def resolve_checkpoint(path: str | Path, which: str = LATEST) -> Path:
    """The checkpoint folder for ``path``: itself when it holds one, else the one ``path/LATEST``
    (or ``path/BEST`` with ``which="BEST"``) names. Raises ``FileNotFoundError`` when there is none.

    When ``LATEST`` is missing or names no complete checkpoint, the newest complete checkpoint is used,
    with a warning that says why.
    """
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    name = _read_pointer(path, which)
    if name is not None and is_complete(path / name):
        return path / name
    problem = (f"{path / which} is missing or unreadable" if name is None
               else f"{path / which} names {name}, which is not a complete checkpoint")
    found = complete_checkpoints(path) if which == LATEST else []
    if found:
        warnings.warn(f"{problem}: using the newest complete checkpoint, {found[-1].name}", stacklevel=2)
        return found[-1]
    raise FileNotFoundError(f"no checkpoint in {path}: {problem} and no complete step-* folder is there"
                            if path.is_dir() else f"no checkpoint at {path}: no such folder")


def find_resume_checkpoint(root: str | Path) -> Path | None:
    """The checkpoint ``--resume`` continues from: ``resolve_checkpoint(root)``, or None when ``root`` holds no
    trace of a run (no pointer file, no ``step-*`` folder).

    A trace without any complete checkpoint is a FileNotFoundError: resuming must never start over silently.
    """
    root = Path(root)
    traces = [p.name for p in root.iterdir() if p.name in (LATEST, BEST) or p.name.startswith("step-")] \
        if root.is_dir() else []
    if not traces:
        return None
    try:
        return resolve_checkpoint(root)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cannot resume: {err} (found {', '.join(sorted(traces))}); start afresh "
                                "without --resume, or in another folder") from None


def has_checkpoint(path: str | Path) -> bool:
    """Whether ``resolve_checkpoint(path)`` would find a checkpoint."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolve_checkpoint(path)
    except FileNotFoundError:
        return False
    return True


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (torch's and safetensors' messages span several), at most 300 chars."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (" ".join(lines[:3]) or type(err).__name__)[:300]


def _read_meta(folder: Path) -> dict[str, Any]:
    """``state.json``; ValueError naming it when it is not JSON, not a checkpoint's, or of another format."""
    path = folder / STATE_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable checkpoint state ({_one_line(err)})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int) or "state" not in meta:
        raise ValueError(f"{path}: not a checkpoint state (no step and state)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {meta.get('format_version')}, expected {FORMAT_VERSION}")
    return meta


def read_checkpoint_info(path: str | Path, which: str = LATEST) -> dict[str, Any]:
    """The ``info`` a checkpoint was saved with (config, settings, metrics), without reading its tensors."""
    info = _read_meta(resolve_checkpoint(path, which)).get("info")
    return info if isinstance(info, dict) else {}


def load_checkpoint(path: str | Path, model: nn.Module | None = None, which: str = LATEST,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (a folder, or a checkpoints root through ``LATEST``/``BEST``).

    Loads the weights into ``model`` when given (strictly: every key must match). Returns
    ``{"path", "step", "state", "info", "tokenizer"}`` with ``state`` rebuilt as it was saved (tensors on
    ``map_location``) and ``tokenizer`` the JSON text or None. A damaged file, or weights of another shape than
    ``model``, is a one-line ValueError naming the file.
    """
    from safetensors import SafetensorError

    folder = resolve_checkpoint(path, which)
    meta = _read_meta(folder)
    if model is not None:
        weights = folder / MODEL_FILE
        try:
            missing, unexpected = load_model(model, str(weights), strict=True, device=str(map_location))
        except (SafetensorError, OSError) as err:  # missing, truncated, or a damaged header
            raise ValueError(f"{weights}: not a readable safetensors file ({_one_line(err)})") from None
        except (RuntimeError, ValueError) as err:  # weights of another shape: the model settings differ
            raise ValueError(f"{weights}: the weights do not fit this model; resume with the settings the run "
                             f"was saved with ({_one_line(err)})") from None
        if missing or unexpected:  # load_model raises on these with strict=True; kept as a guard
            raise ValueError(f"{weights}: missing {missing}, unexpected {unexpected}")
    try:
        tensors = load_file(str(folder / STATE_TENSORS_FILE), device=str(map_location))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{folder / STATE_TENSORS_FILE}: not a readable safetensors file ({_one_line(err)})") from None
    try:
        state = unflatten_state(meta["state"], tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{folder / STATE_FILE}: its state does not match {STATE_TENSORS_FILE} "
                         f"({_one_line(err)})") from None
    tokenizer_path = folder / TOKENIZER_FILE
    return {
        "path": folder,
        "step": meta["step"],
        "state": state,
        "info": meta.get("info", {}),
        "tokenizer": tokenizer_path.read_text(encoding="utf-8") if tokenizer_path.is_file() else None,
    }
