"""Checkpoints: exact round trips of weights and nested state, pointers, pruning, and crash safety."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from t2sql_lib import checkpoint as ck
from t2sql_lib.model import GPTConfig, GPTModel


def tiny_model(seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(GPTConfig(vocab_size=50, context_length=16, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0))


def trained_optimizer(model: torch.nn.Module) -> torch.optim.AdamW:
    """An AdamW with real moments in its state (two groups, betas as a tuple, int-keyed state)."""
    opt = torch.optim.AdamW([{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    for _ in range(2):
        model(torch.randint(0, 50, (2, 8))).sum().backward()
        opt.step()
        opt.zero_grad()
    return opt


def assert_same(a, b):
    """Deep equality of nested state, tensors compared exactly, container types included."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


def test_flatten_round_trip_of_optimizer_and_rng_state():
    model = tiny_model()
    state = {"optimizer": trained_optimizer(model).state_dict(), "python": random.getstate(),
             "numpy": np.random.get_state(), "torch": torch.get_rng_state(), "__odd": 1, "a.b": torch.ones(2),
             "a": {"b": torch.zeros(2)}}
    skeleton, tensors = ck.flatten_state(state)
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    import json

    restored = ck.unflatten_state(json.loads(json.dumps(skeleton)), tensors)  # through real JSON text
    assert isinstance(restored["optimizer"]["state"], dict) and 0 in restored["optimizer"]["state"]
    restored_numpy, original_numpy = restored.pop("numpy"), state.pop("numpy")
    assert restored_numpy[0] == original_numpy[0] and np.array_equal(restored_numpy[1], original_numpy[1])
    assert_same(restored, state)
    with pytest.raises(TypeError, match="cannot store"):
        ck.flatten_state({"x": object()})


def test_save_load_round_trip(tmp_path):
    model = tiny_model(0)
    opt = trained_optimizer(model)
    path = ck.save_checkpoint(tmp_path, model=model, step=7, state={"optimizer": opt.state_dict()},
                              info={"config": {"emb_dim": 16}}, tokenizer={"type": "bytes"})
    assert path.name == "step-000007" and (tmp_path / ck.LATEST).read_text().strip() == "step-000007"
    if os.name == "posix":  # readable like any other file, not private as tempfile makes them
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o777 & ~umask
        assert (tmp_path / ck.LATEST).stat().st_mode & 0o777 == 0o666 & ~umask
    other = tiny_model(1)  # different weights, overwritten by the load
    loaded = ck.load_checkpoint(tmp_path, model=other)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert other.lm_head.weight is other.tok_emb.weight  # the tie survives (stored once, loaded into one)
    assert loaded["step"] == 7 and loaded["info"]["config"] == {"emb_dim": 16}
    assert loaded["tokenizer"] == '{"type": "bytes"}'
    assert_same(loaded["state"]["optimizer"], opt.state_dict())
    fresh = trained_optimizer(tiny_model(2))
    fresh.load_state_dict(loaded["state"]["optimizer"])  # the optimizer accepts it back
    assert_same(fresh.state_dict(), opt.state_dict())


def test_best_pointer_and_pruning(tmp_path):
    model = tiny_model()
    ck.save_checkpoint(tmp_path, model=model, step=1, best=True)
    ck.save_checkpoint(tmp_path, model=model, step=2)
    ck.save_checkpoint(tmp_path, model=model, step=3)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [ck.BEST, ck.LATEST, "step-000001", "step-000003"]  # step 2: neither best nor latest
    assert ck.load_checkpoint(tmp_path, which=ck.BEST)["step"] == 1
    assert ck.load_checkpoint(tmp_path)["step"] == 3
    ck.save_checkpoint(tmp_path, model=model, step=3)  # the same step again gets its own folder
    assert ck.resolve_checkpoint(tmp_path).name == "step-000003-1"
    with pytest.raises(FileNotFoundError):
        ck.resolve_checkpoint(tmp_path / "nothing")
    assert not ck.has_checkpoint(tmp_path / "nothing") and ck.has_checkpoint(tmp_path)


def test_crash_while_writing_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = tiny_model(0)
    opt = trained_optimizer(model)
    ck.save_checkpoint(tmp_path, model=model, step=1, state={"optimizer": opt.state_dict()})
    before = {p.name: p.read_bytes() for p in (tmp_path / "step-000001").iterdir()}
    saved_weights = {k: v.clone() for k, v in model.state_dict().items()}

    real_save_file = ck.save_file

    def crash_midway(tensors, filename, *args, **kwargs):
        real_save_file(tensors, filename, *args, **kwargs)
        with open(filename, "r+b") as f:  # leave a torn file behind, as a power cut would
            f.truncate(f.seek(0, 2) // 2)
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", crash_midway)
    with torch.no_grad():
        model.tok_emb.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(tmp_path, model=model, step=2, state={"optimizer": opt.state_dict()})
    assert sorted(p.name for p in tmp_path.iterdir()) == [ck.LATEST, "step-000001"]  # no temp folder left
    assert {p.name: p.read_bytes() for p in (tmp_path / "step-000001").iterdir()} == before
    restored = tiny_model(1)
    loaded = ck.load_checkpoint(tmp_path, model=restored)
    assert loaded["step"] == 1
    for name, value in restored.state_dict().items():
        assert torch.equal(value, saved_weights[name]), name


def test_crash_before_pointer_update_keeps_latest_on_old(tmp_path, monkeypatch):
    model = tiny_model()
    ck.save_checkpoint(tmp_path, model=model, step=1)

    def crash(path, text):
        raise KeyboardInterrupt  # interrupted between the folder rename and the pointer update

    monkeypatch.setattr(ck, "write_text_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(tmp_path, model=model, step=2)
    assert ck.load_checkpoint(tmp_path)["step"] == 1  # the complete new folder is simply not pointed at yet


def test_write_text_atomic_failure_keeps_old_file(tmp_path, monkeypatch):
    target = ck.write_text_atomic(tmp_path / "LATEST", "old\n")
    monkeypatch.setattr(ck.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        ck.write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["LATEST"]
