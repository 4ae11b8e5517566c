"""DDP helpers, and `torchrun --nproc_per_node=2` (gloo, CPU) matching one process over the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from t2sql_lib import distributed as dd
from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.checkpoint import load_checkpoint
from t2sql_lib.model import GPTConfig, GPTModel

TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def test_single_process_without_torchrun(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    env = dd.setup_distributed(device="cpu")
    assert env == dd.DistEnv() and env.is_main and not env.distributed
    assert not dd.launched_by_torchrun()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not dd.launched_by_torchrun()  # a one-process "group" needs no process group
    t = torch.tensor([2.0])
    assert dd.all_reduce_sum(t, env) is t and dd.all_gather_objects("a", env) == ["a"]
    assert dd.broadcast_object({"x": 1}, env) == {"x": 1}
    model = torch.nn.Linear(2, 2)
    assert dd.wrap_ddp(model, env) is model


def test_helpers_inside_a_real_process_group(tmp_path):
    """A one-process gloo group: the collectives and the DDP wrapper run for real."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        env = dd.DistEnv(backend="gloo")
        assert env.distributed
        t = torch.tensor([1.5, 2.0])
        total = dd.all_reduce_sum(t, env)
        assert torch.equal(total, t) and total is not t
        assert dd.all_gather_objects({"r": 0}, env) == [{"r": 0}]
        assert dd.broadcast_object([1, 2], env) == [1, 2]
        model = torch.nn.Linear(3, 2)
        wrapped = dd.wrap_ddp(model, env)
        assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
        assert dd.unwrap_model(wrapped) is model
        dd.barrier(env)
    finally:
        dd.cleanup_distributed()
    assert not dist.is_initialized()


def test_unwrap_compiled_model():
    class Compiled(torch.nn.Module):  # what torch.compile returns keeps the model as ._orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    inner = torch.nn.Linear(2, 2)
    assert dd.unwrap_model(Compiled(inner)) is inner and dd.unwrap_model(inner) is inner


ARGS = ["--config", "tiny", "--data", "synthetic", "--synthetic-tokens", "30000", "--seq-len", "64",
        "--no-progress", "--device", "cpu", "train.max_steps=4", "train.eval_every=2", "train.eval_batches=4",
        "train.warmup_steps=2", "model.emb_dim=32", "model.n_layers=2"]


def torchrun(out, *extra, optimizer="adamw", ema=0.0):
    """Two CPU processes with gloo; returns the completed process (output checked by the caller)."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "t2sql_lib.train_cli", *ARGS, f"train.optimizer={optimizer}", f"train.ema_decay={ema}", "train.batch_size=4",
           "--out", str(out),
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.timeout(180)
@pytest.mark.parametrize("optimizer,ema", [("adamw", 0.0), ("muon", 0.0), ("adamw", 0.5)])
def test_torchrun_two_processes_match_one_process(tmp_path, capsys, optimizer, ema):
    """2 ranks x batch 4 == 1 process x batch 8: same per-step losses, validation losses and weights, with AdamW,
    with Muon, and with an average of the weights (evaluated and checkpointed). The 2-rank run is stopped after step 2
    and resumed, so rank-0 checkpointing and resume under DDP are checked too."""
    single = tmp_path / "single"
    assert train_cli.main([*ARGS, f"train.optimizer={optimizer}", f"train.ema_decay={ema}", "train.batch_size=8", "--out",
                    str(single)]) == 0
    capsys.readouterr()
    ddp = tmp_path / "ddp"
    first = torchrun(ddp, "--stop-at-step", "2", optimizer=optimizer, ema=ema)
    assert "2 process(es) on cpu" in first.stdout
    assert first.stdout.count("preset tiny") == 1  # only rank 0 prints
    second = torchrun(ddp, "--resume", optimizer=optimizer, ema=ema)
    assert "resumed from" in second.stdout

    one = tr.read_csv_log(single / tr.TRAIN_LOG)
    two = tr.read_csv_log(ddp / tr.TRAIN_LOG)
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], abs=1e-5)
    assert [r["tokens"] for r in two] == [r["tokens"] for r in one]  # the same global batch per step
    evals_one, evals_two = tr.read_csv_log(single / tr.EVAL_LOG), tr.read_csv_log(ddp / tr.EVAL_LOG)
    assert [r["val_loss"] for r in evals_two] == pytest.approx([r["val_loss"] for r in evals_one], abs=1e-5)

    cfg = GPTConfig(vocab_size=1024, context_length=256, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0)
    a, b = GPTModel(cfg), GPTModel(cfg)
    ck_one = load_checkpoint(single / "checkpoints", model=a)
    ck_two = load_checkpoint(ddp / "checkpoints", model=b)
    assert ck_one["step"] == ck_two["step"] == 4
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(x, y, atol=1e-5), name
    assert len(ck_two["state"]["rng"]) == 2 and ck_two["state"]["progress"]["world_size"] == 2


WORKER = '''
import sys

import torch

from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.config import TrainSettings
from t2sql_lib.lm_data import SlidingWindowDataset
from t2sql_lib.model import GPTConfig, GPTModel


class Halves(torch.nn.Module):
    """Reads a batch given as keyword arguments, as sft.SharedSchemaLM does."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, first_ids, second_ids):
        return self.model(torch.cat([first_ids, second_ids], dim=1))


def collate(batch):
    x = torch.stack([b[0] for b in batch])
    return {"first_ids": x[:, :8], "second_ids": x[:, 8:]}, torch.stack([b[1] for b in batch])


out, batch = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = GPTModel(GPTConfig(vocab_size=48, context_length=16, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0))
data = SlidingWindowDataset(train_cli.synthetic_token_stream(4000, 48, seed=0), 16)
settings = TrainSettings(batch_size=batch, learning_rate=3e-3, warmup_steps=2, max_steps=4, eval_every=0, seed=7)
tr.train(model, data, settings, tr.TrainTask(collate_fn=collate, wrap_model=Halves),
         tr.RunOptions(out_dir=out, device="cpu", progress=False, verbose=False))
'''


@pytest.mark.timeout(180)
def test_torchrun_mapping_inputs_through_a_wrapper_match_one_process(tmp_path):
    """Inputs as keyword arguments to ``wrap_model(model)`` (the shared-schema path) under DDP: 2 ranks x batch 4
    give the losses and tokens of 1 process x batch 8."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one"), "8"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), str(tmp_path / "two"), "4"], capture_output=True, text=True, timeout=120, env=env)
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    one_log, two_log = tr.read_csv_log(tmp_path / "one" / tr.TRAIN_LOG), tr.read_csv_log(tmp_path / "two" / tr.TRAIN_LOG)
    assert [r["step"] for r in two_log] == [1, 2, 3, 4]
    assert [r["loss"] for r in two_log] == pytest.approx([r["loss"] for r in one_log], abs=1e-5)
    assert [r["tokens"] for r in two_log] == [r["tokens"] for r in one_log]
