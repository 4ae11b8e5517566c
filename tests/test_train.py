"""The training engine: schedule, optimizer groups, precision choice, accumulation, masking, evaluation,
early stopping, metrics files, exact resume, and the command line. Tiny models, a few steps each."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
import sys

import pytest
import torch

from t2sql_lib import hardware as hw
from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.checkpoint import BEST, load_checkpoint
from t2sql_lib.config import TrainSettings, load_preset
from t2sql_lib.lm_data import SlidingWindowDataset
from t2sql_lib.model import GPTConfig, GPTModel

VOCAB, SEQ = 48, 16


def tiny_gpt(seed: int = 0, drop_rate: float = 0.0) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(GPTConfig(vocab_size=VOCAB, context_length=SEQ, emb_dim=32, n_heads=2, n_layers=2,
                              drop_rate=drop_rate))


def stream_data(n_tokens: int = 4000, seed: int = 0) -> SlidingWindowDataset:
    return SlidingWindowDataset(train_cli.synthetic_token_stream(n_tokens, VOCAB, seed=seed), SEQ)


def settings(**kw) -> TrainSettings:
    base = dict(batch_size=8, learning_rate=3e-3, warmup_steps=2, max_steps=8, eval_every=0, eval_batches=4,
                precision="auto", seed=7)
    return TrainSettings(**{**base, **kw})


def run(tmp_path, name="run", model=None, data=None, **kw):
    """Train quietly on the CPU; keyword arguments go to TrainSettings, TrainTask or RunOptions."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    task_fields = {f.name for f in dataclasses.fields(tr.TrainTask)}
    s = settings(**{k: v for k, v in kw.items() if k in fields})
    task = tr.TrainTask(**{k: v for k, v in kw.items() if k in task_fields})
    options = tr.RunOptions(**{"out_dir": tmp_path / name, "device": "cpu", "progress": False, "verbose": False,
                               **{k: v for k, v in kw.items() if k not in fields | task_fields}})
    return tr.train(model or tiny_gpt(), data or stream_data(), s, task, options)


# --- pieces -------------------------------------------------------------------------------------------

def test_schedule_warmup_then_cosine_to_floor():
    s = TrainSettings(learning_rate=1.0, warmup_steps=4, max_steps=14, min_lr_ratio=0.1)
    assert [tr.lr_at(k, s) for k in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert tr.lr_at(9, s) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert tr.lr_at(14, s) == pytest.approx(0.1) and tr.lr_at(100, s) == pytest.approx(0.1)
    decay = [tr.lr_at(k, s) for k in range(4, 15)]
    assert all(a > b for a, b in zip(decay, decay[1:]))


def test_optimizer_groups_decay_only_matrices():
    model = tiny_gpt()
    opt = tr.build_optimizer(model, settings(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids))  # the tied embedding/output matrix is one parameter, listed once
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_parameters()
    assert any(p is model.tok_emb.weight for p in decay["params"])
    assert opt.defaults["betas"] == (0.9, 0.95) and not opt.defaults["fused"]


def test_precision_choice(monkeypatch):
    assert hw.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(hw, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bf16 on this CPU.*fp32"):
        assert hw.resolve_precision("bf16", "cpu") == "fp32"
    with pytest.warns(UserWarning, match="fp32"):
        assert hw.resolve_precision("fp16", "cpu") == "fp32"
    monkeypatch.setattr(hw, "cpu_supports_bf16", lambda: True)
    assert hw.resolve_precision("bf16", "cpu") == "bf16"  # asked for, and native
    assert hw.resolve_precision("auto", "cpu") == "fp32"  # never chosen for a CPU unasked
    with pytest.raises(ValueError, match="precision"):
        hw.resolve_precision("fp8", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # A100
    assert hw.resolve_precision("auto", "cuda") == "bf16"
    assert hw.resolve_precision("fp32", "cuda") == "fp32"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # T4
    assert hw.resolve_precision("auto", "cuda") == "fp16"
    assert hw.resolve_precision("fp16", "cuda") == "fp16"
    with pytest.warns(UserWarning, match="no native bf16"):
        assert hw.resolve_precision("bf16", "cuda") == "fp16"


def test_setup_precision_on_cpu_is_plain_fp32():
    p = hw.setup_precision(settings(precision="auto"), torch.device("cpu"))
    assert p.name == "fp32" and p.dtype == torch.float32 and not p.scaler.is_enabled()
    assert isinstance(p.autocast(), type(contextlib.nullcontext()))


def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path):
    with_it, without = tmp_path / "zen4", tmp_path / "old"
    with_it.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n\n")
    assert hw.cpu_supports_bf16(with_it) and not hw.cpu_supports_bf16(without)
    assert not hw.cpu_supports_bf16(tmp_path / "missing")  # not Linux: no claim


def test_bf16_training_on_a_cpu_tracks_fp32(tmp_path, monkeypatch):
    """CPU autocast runs wherever PyTorch does (emulated where not native), so the bf16 path is tested everywhere."""
    monkeypatch.setattr(hw, "cpu_supports_bf16", lambda: True)
    fp32 = run(tmp_path, "fp32", precision="fp32", max_steps=6)
    bf16 = run(tmp_path, "bf16", precision="bf16", max_steps=6)
    assert bf16.precision == "bf16" and fp32.precision == "fp32"
    assert bf16.losses == pytest.approx(fp32.losses, abs=0.05)  # bf16 rounding, same training
    assert bf16.losses != fp32.losses  # and it did run in bf16
    weights = load_checkpoint(bf16.out_dir / "checkpoints", model=tiny_gpt())
    assert weights["step"] == 6  # weights and optimizer stay fp32: the checkpoint loads into an fp32 model


def test_compile_only_on_gpu(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda m: calls.append(m) or "compiled")
    model = tiny_gpt()
    assert hw.maybe_compile(model, settings(compile=False), torch.device("cuda")) == (model, False)
    with pytest.warns(UserWarning, match="ignored on the CPU"):
        assert hw.maybe_compile(model, settings(compile=True), torch.device("cpu")) == (model, False)
    assert hw.maybe_compile(model, settings(compile=True), torch.device("cuda")) == ("compiled", True)
    assert calls == [model]


def test_synthetic_stream_and_resumable_sampler():
    stream = train_cli.synthetic_token_stream(1000, VOCAB, seed=0)
    assert len(stream) == 1000 and 0 <= int(stream.min()) and int(stream.max()) < VOCAB
    assert torch.equal(stream, train_cli.synthetic_token_stream(1000, VOCAB, seed=0))
    assert not torch.equal(stream, train_cli.synthetic_token_stream(1000, VOCAB, seed=1))
    ds = stream_data(1000)
    x, y = ds[3]
    assert x.shape == y.shape == (SEQ,) and torch.equal(x[1:], y[:-1])
    full = list(tr.ResumableSampler(ds, seed=1, epoch=2))
    assert sorted(full) == list(range(len(ds))) and full != list(range(len(ds)))
    assert list(tr.ResumableSampler(ds, seed=1, epoch=2, start=10)) == full[10:]
    assert full != list(tr.ResumableSampler(ds, seed=1, epoch=3))  # a new epoch, a new order
    halves = [list(tr.ResumableSampler(ds, seed=1, epoch=2, rank=r, world_size=2)) for r in (0, 1)]
    assert halves[0] == full[0::2][:len(halves[0])] and halves[1] == full[1::2][:len(halves[1])]
    with pytest.raises(ValueError, match="cannot fill one batch"):
        tr.BatchStream(stream_data(200), 64, 0, tr.DistEnv(), None).next()


def test_loss_skips_masked_targets():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, VOCAB)
    targets = torch.randint(0, VOCAB, (2, 5))
    masked = targets.clone()
    masked[:, :3] = tr.IGNORE_INDEX  # a prompt the model is not trained to write
    per_token = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    assert tr.lm_loss_sum(logits, masked).item() == pytest.approx(per_token.view(2, 5)[:, 3:].sum().item(), rel=1e-6)


# --- the loop -----------------------------------------------------------------------------------------

def test_loss_falls_and_metrics_are_written(tmp_path):
    val = stream_data(1200, seed=1)
    result = run(tmp_path, max_steps=30, eval_every=10, warmup_steps=3, val_data=val)
    assert len(result.losses) == 30 and result.step == 30
    assert sum(result.losses[-5:]) / 5 < result.losses[0] - 0.5  # it learns the runs
    assert [e["step"] for e in result.evals] == [10, 20, 30]
    assert result.evals[-1]["val_loss"] < result.evals[0]["val_loss"]
    assert result.evals[-1]["val_ppl"] == pytest.approx(math.exp(result.evals[-1]["val_loss"]))
    rows = tr.read_csv_log(result.out_dir / tr.TRAIN_LOG)
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert [r["loss"] for r in rows] == pytest.approx(result.losses, abs=1e-6)
    assert rows[0]["lr"] == pytest.approx(1e-3) and rows[2]["lr"] == pytest.approx(3e-3)
    assert all(r["grad_norm"] > 0 and r["tokens_per_s"] > 0 for r in rows)
    summary = json.loads((result.out_dir / tr.METRICS_JSON).read_text())
    assert summary["best_step"] == 30 and summary["precision"] == "fp32" and summary["final_loss"] == result.losses[-1]
    assert load_checkpoint(result.out_dir / "checkpoints")["step"] == 30
    from t2sql_lib.plots import plot_metrics

    fig = plot_metrics(result)
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert len(fig.axes[0].lines) == 3  # raw train loss, smoothed train loss, validation loss


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    big = run(tmp_path, "big", batch_size=8, grad_accum_steps=1, max_steps=5)
    accum = run(tmp_path, "accum", batch_size=4, grad_accum_steps=2, max_steps=5)
    assert accum.losses == pytest.approx(big.losses, abs=1e-6)


def test_masked_tokens_do_not_count(tmp_path):
    """With half the targets masked, the step loss is the mean over the scored tokens only."""

    def collate(batch):
        x = torch.stack([b[0] for b in batch])
        y = torch.stack([b[1] for b in batch])
        y[:, : SEQ // 2] = tr.IGNORE_INDEX
        return x, y

    model = tiny_gpt()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    data = stream_data()
    result = run(tmp_path, model=model, data=data, max_steps=1, collate_fn=collate)
    model.load_state_dict(start)
    loader = tr.make_loader(data, 8, seed=7, collate_fn=collate)
    x, y = next(iter(loader))
    with torch.no_grad():
        expected = tr.lm_loss_sum(model(x), y).item() / (y != tr.IGNORE_INDEX).sum().item()
    assert result.losses[0] == pytest.approx(expected, abs=1e-6)


class _Halves(torch.nn.Module):
    """Reads a batch given as two keyword arguments; a wrapper as ``sft.SharedSchemaLM`` is, with no weights."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, first_ids, second_ids):
        return self.model(torch.cat([first_ids, second_ids], dim=1))


def _split_collate(batch):
    x = torch.stack([b[0] for b in batch])
    return {"first_ids": x[:, : SEQ // 2], "second_ids": x[:, SEQ // 2:]}, torch.stack([b[1] for b in batch])


def test_mapping_inputs_go_to_the_wrapped_model_as_keywords(tmp_path):
    """Inputs as a mapping reach ``wrap_model(model)(**inputs)``: same losses, tokens and validation as the
    tensor inputs; the checkpoint holds the model itself."""
    val = stream_data(600, seed=3)
    kw = dict(max_steps=6, eval_every=3, val_data=val)
    plain = run(tmp_path, "plain", **kw)
    mapped = run(tmp_path, "mapped", collate_fn=_split_collate, wrap_model=_Halves, **kw)
    assert mapped.losses == pytest.approx(plain.losses, abs=1e-6)
    assert [e["val_loss"] for e in mapped.evals] == pytest.approx([e["val_loss"] for e in plain.evals], abs=1e-6)
    rows = tr.read_csv_log(mapped.out_dir / tr.TRAIN_LOG)
    assert [r["tokens"] for r in rows] == [r["tokens"] for r in tr.read_csv_log(plain.out_dir / tr.TRAIN_LOG)]
    final = tiny_gpt(5)
    load_checkpoint(mapped.out_dir / "checkpoints", model=final)  # the GPTModel's own keys, no wrapper prefix
    reference = tiny_gpt(6)
    load_checkpoint(plain.out_dir / "checkpoints", model=reference)
    for name, value in reference.state_dict().items():
        assert torch.allclose(value, final.state_dict()[name], atol=1e-6), name
    x, _ = _split_collate([stream_data()[0]])
    assert tr.input_tokens(x) == SEQ and tr.input_tokens(torch.zeros(2, 5)) == 10
    assert hw.step_flops(final, [x]) == hw.step_flops(final, [torch.zeros(1, SEQ, dtype=torch.long)])


def test_early_stopping_and_best_checkpoint(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.4, 0.3, 0.2])  # an accuracy that peaks at the second evaluation

    result = run(tmp_path, max_steps=40, eval_every=2, eval_fn=lambda model: {"accuracy": next(scores)},
                 early_stopping_metric="accuracy", early_stopping_mode="max", early_stopping_patience=2)
    assert result.stopped_early and result.step == 8  # evaluations at 2, 4 (best), 6, 8: two without gain
    assert result.best_step == 4 and result.best_metric == 0.7
    root = result.out_dir / "checkpoints"
    assert (root / BEST).read_text().strip() == "step-000004"
    assert load_checkpoint(root, which=BEST)["info"]["last_eval"] == {"step": 4, "accuracy": 0.7}
    run(tmp_path, max_steps=2)  # a fresh run in the same folder: the old best is not its best
    assert not (root / BEST).exists() and load_checkpoint(root)["step"] == 2
    with pytest.raises(ValueError, match="not among the metrics"):
        run(tmp_path, "bad", max_steps=4, eval_every=2, eval_fn=lambda m: {"acc": 1.0},
            early_stopping_metric="accuracy", early_stopping_patience=1)


def test_time_budget_stops_evaluated_and_checkpointed(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 30))  # every look at the clock: 30 s later
    monkeypatch.setattr(tr, "wall_clock", lambda: float(next(clock)))
    result = run(tmp_path, max_steps=50, max_minutes=2.0, val_data=stream_data(600, seed=3))
    assert result.out_of_time and result.stopped_early and 1 < result.step < 50
    assert result.evals[-1]["step"] == result.step  # the last step is scored
    assert load_checkpoint(result.out_dir / "checkpoints")["step"] == result.step
    unlimited = run(tmp_path, "unlimited", max_steps=6)
    assert not unlimited.out_of_time and unlimited.step == 6


def test_exact_resume(tmp_path):
    """N steps, stop, resume, M more == N + M uninterrupted: same data order, dropout masks, optimizer."""
    data, val = stream_data(1000), stream_data(600, seed=3)  # 62 sequences: an epoch is 7 batches of 8
    kw = dict(max_steps=12, eval_every=4, val_data=val, warmup_steps=3)
    whole = run(tmp_path, "whole", model=tiny_gpt(0, drop_rate=0.2), data=data, **kw)
    first = run(tmp_path, "split", model=tiny_gpt(0, drop_rate=0.2), data=data, stop_at_step=5, **kw)
    assert first.step == 5 and len(first.losses) == 5
    random.random()  # disturb every generator between the two halves: resume must restore them
    torch.rand(3)
    resumed_model = tiny_gpt(99, drop_rate=0.2)  # other weights: the checkpoint must replace them
    second = run(tmp_path, "split", model=resumed_model, data=data, resume_from=True, **kw)
    assert second.step == 12 and len(second.losses) == 7
    assert first.losses + second.losses == pytest.approx(whole.losses, abs=1e-6)
    assert [e["val_loss"] for e in second.evals] == pytest.approx([e["val_loss"] for e in whole.evals[1:]], abs=1e-6)
    whole_state = load_checkpoint(whole.out_dir / "checkpoints")
    final = tiny_gpt(5, drop_rate=0.2)
    load_checkpoint(whole.out_dir / "checkpoints", model=final)
    for name, value in resumed_model.state_dict().items():
        assert torch.allclose(value, final.state_dict()[name], atol=1e-6), name
    assert whole_state["state"]["data"] == {"epoch": 1, "batches_consumed": 5}  # 12 = 7 + 5: past an epoch
    rows = tr.read_csv_log(second.out_dir / tr.TRAIN_LOG)  # the log holds each step once, in order
    assert [r["step"] for r in rows] == list(range(1, 13))


def test_ema_follows_its_formula_and_swaps_back(tmp_path):
    """The average after three updates, by hand; ``applied`` puts it in and the trained weights back."""
    from t2sql_lib.ema import EMA

    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.9)
    expected = 0.0
    for k, w in enumerate([1.0, 2.0, 4.0], start=1):
        with torch.no_grad():
            model.weight.fill_(w)
        d = min(0.9, (1 + k) / (10 + k))  # 2/11, 3/12, 4/13: the first updates forget the start fast
        assert ema.current_decay() == pytest.approx(d)
        ema.update(model)
        expected = d * expected + (1 - d) * w
    assert ema.shadow["weight"][0, 0].item() == pytest.approx(expected) and ema.updates == 3
    with ema.applied(model):
        assert model.weight[0, 0].item() == pytest.approx(expected)
    assert model.weight[0, 0].item() == 4.0
    with pytest.raises(ValueError, match="ema_decay"):
        EMA(model, decay=1.0)
    with pytest.raises(ValueError, match="ema_decay=-0.5"):  # not silently off: the engine passes any non-zero decay
        tr.train(model, stream_data(), settings(ema_decay=-0.5),
                 options=tr.RunOptions(out_dir=tmp_path, device="cpu", progress=False))


def test_exact_resume_with_ema(tmp_path):
    """With an average of the weights: evaluations score the average and the checkpoint's model is it; a resumed
    run goes on from the trained weights and the average as if uninterrupted; at the end the model holds it."""
    data, val = stream_data(1000), stream_data(600, seed=3)
    kw = dict(max_steps=10, eval_every=5, val_data=val, warmup_steps=3, ema_decay=0.8)
    whole_model = tiny_gpt(0)
    whole = run(tmp_path, "whole", model=whole_model, data=data, **kw)
    first = run(tmp_path, "split", model=tiny_gpt(0), data=data, stop_at_step=4, **kw)
    resumed_model = tiny_gpt(99)
    second = run(tmp_path, "split", model=resumed_model, data=data, resume_from=True, **kw)
    assert first.losses + second.losses == pytest.approx(whole.losses, abs=1e-6)
    assert [e["val_loss"] for e in second.evals] == pytest.approx([e["val_loss"] for e in whole.evals], abs=1e-6)
    final = tiny_gpt(5)
    ckpt = load_checkpoint(whole.out_dir / "checkpoints", model=final)
    for name, value in final.state_dict().items():  # checkpoint model == the model after train() == the average
        assert torch.allclose(value, whole_model.state_dict()[name], atol=1e-6), name
        assert torch.allclose(value, resumed_model.state_dict()[name], atol=1e-6), name
    trained = ckpt["state"]["ema"]["trained"]
    assert ckpt["state"]["ema"]["updates"] == 10
    assert not torch.allclose(trained["lm_head.weight"], final.state_dict()["lm_head.weight"])
    # the evaluation scored the average, not the trained weights
    averaged = tr.evaluate_loss(final, val, batch_size=8, max_batches=4)["val_loss"]
    final.load_state_dict(trained)
    plain = tr.evaluate_loss(final, val, batch_size=8, max_batches=4)["val_loss"]
    assert whole.evals[-1]["val_loss"] == pytest.approx(averaged, abs=1e-6)
    assert abs(plain - averaged) > 1e-4


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path):
    first = run(tmp_path, max_steps=6, stop_at_step=3)
    log = first.out_dir / tr.TRAIN_LOG
    log.write_text(log.read_text() + "4,0,0.001,9.9,1,0,0\n")  # a crashed run logged step 4, never checkpointed
    second = run(tmp_path, max_steps=6, resume_from=True)
    rows = tr.read_csv_log(log)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[3]["loss"] == pytest.approx(second.losses[0])


# --- command line -------------------------------------------------------------------------------------

def test_cli_train_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="t2sql")
    train_cli.register_cli(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(["train", "--config", "tiny", "--data", "synthetic", "--out", str(out), "--no-progress",
                              "--synthetic-tokens", "20000", "--seq-len", "32", "train.max_steps=4",
                              "train.eval_every=2", "train.eval_batches=2", "model.n_layers=1"])
    assert args.func(args) == 0
    assert "step 4: final loss" in capsys.readouterr().out
    ckpt = load_checkpoint(out / "checkpoints")
    assert ckpt["step"] == 4 and ckpt["info"]["config"]["model"]["n_layers"] == 1
    assert ckpt["info"]["config"] == load_preset("tiny").with_overrides(
        ["train.max_steps=4", "train.eval_every=2", "train.eval_batches=2", "model.n_layers=1"]).to_dict()
    # --resume continues the same run to a later max_steps
    assert train_cli.main(["--config", "tiny", "--data", "synthetic", "--out", str(out), "--no-progress", "--resume",
                    "--synthetic-tokens", "20000", "--seq-len", "32", "train.max_steps=6", "model.n_layers=1",
                    "train.eval_every=0"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert load_checkpoint(out / "checkpoints")["step"] == 6
    assert train_cli.main(["--config", "tiny", "--data", "synthetic", "--out", str(out), "train.nope=1"]) == 2


def test_pretraining_text_as_bytes(monkeypatch):
    """The default data, as before chapter 1: the generated dataset's prompt + SQL text as UTF-8 bytes."""
    monkeypatch.setitem(sys.modules, "t2sql_lib.tokenizer", None)  # as if chapter 1 were not exported
    assert train_cli.default_tokenizer_spec() == "bytes"
    preset = load_preset("tiny").with_overrides(["data.n_synth_examples=200"])
    train_data, val_data, tokenizer = train_cli.build_lm_data(preset, "synth", seq_len=64, tokenizer="bytes")
    text = bytes(train_data.token_ids[:2000].tolist()).decode("utf-8", errors="replace")
    assert "<|schema|>" in text and "<|question|>" in text and "<|sql|>" in text and "<|endoftext|>" in text
    assert len(val_data) > 0 and json.loads(tokenizer)["type"] == "bytes"
    with pytest.raises(ValueError, match="--data"):
        train_cli.build_lm_data(preset, "web")

def test_evaluation_does_not_change_training(tmp_path):
    """Evaluating (even with an eval_fn that draws random numbers) leaves the training's random streams alone."""

    def noisy_metric(model):
        return {"noise": torch.rand(()).item() + random.random()}

    plain = run(tmp_path, "plain", model=tiny_gpt(0, drop_rate=0.2), max_steps=6)
    evaluated = run(tmp_path, "evaluated", model=tiny_gpt(0, drop_rate=0.2), max_steps=6, eval_every=2,
                    val_data=stream_data(600, seed=3), eval_fn=noisy_metric)
    assert len(evaluated.evals) == 3 and evaluated.losses == pytest.approx(plain.losses, abs=1e-7)


def test_text_tokenizers(monkeypatch):
    encode, n_vocab, described = train_cli.load_text_tokenizer("bytes")
    assert encode("é;").tolist() == [195, 169, 59] and n_vocab == 256 and "bytes" in described
    monkeypatch.setitem(sys.modules, "t2sql_lib.tokenizer", None)  # as before chapter 1 is exported
    with pytest.raises(ValueError, match="chapter 1"):
        train_cli.load_text_tokenizer("gpt2")


def test_pretraining_with_a_chapter1_tokenizer(tmp_path):
    """``auto``: a BPE tokenizer of data.tokenizer_vocab_size ids trained on the training text; or one from a file."""
    tokenizer_module = pytest.importorskip("t2sql_lib.tokenizer", reason="chapter 1's tokenizer not exported yet")
    from t2sql_lib.prompts import build_example_text
    from t2sql_lib.synth import load_generated

    preset = load_preset("tiny").with_overrides(["data.n_synth_examples=200"])
    assert train_cli.default_tokenizer_spec() == "bpe"
    train_data, val_data, described = train_cli.build_lm_data(preset, "synth", seq_len=32)
    tok = tokenizer_module.BPETokenizer.from_dict(json.loads(described))
    assert tok.n_vocab == preset.data.tokenizer_vocab_size and int(train_data.token_ids.max()) < tok.n_vocab
    texts = [build_example_text(e) for e in load_generated(200, splits=("train",))["train"]]
    assert tok.decode(train_data.token_ids.tolist()) == "".join(texts)[: len(tok.decode(train_data.token_ids.tolist()))]
    path = tokenizer_module.BPETokenizer.train(texts, vocab_size=300).save(tmp_path / "bpe.json")
    from_file, _, described = train_cli.build_lm_data(preset, "synth", seq_len=32, tokenizer=str(path))
    assert int(from_file.token_ids.max()) < 300 and json.loads(described) == tokenizer_module.load_tokenizer(path).to_dict()
    too_big = preset.with_overrides(["model.vocab_size=256", "data.tokenizer_vocab_size=300"])
    with pytest.raises(ValueError, match="model.vocab_size"):
        train_cli.build_lm_data(too_big, "synth", seq_len=32)


def test_crash_during_a_checkpoint_then_resume(tmp_path, monkeypatch):
    """A crash while writing the step-8 checkpoint: the run resumes from step 4 and ends as if nothing happened."""
    from t2sql_lib import checkpoint as ck

    data = stream_data(1000)
    kw = dict(max_steps=12, eval_every=4, warmup_steps=3)
    whole = run(tmp_path, "whole", model=tiny_gpt(0, drop_rate=0.2), data=data, **kw)

    real_save_file, calls = ck.save_file, []

    def fail_on_second_checkpoint(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 2:
            raise OSError("power cut")
        return real_save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(ck, "save_file", fail_on_second_checkpoint)
    with pytest.raises(OSError, match="power cut"):
        run(tmp_path, "crashed", model=tiny_gpt(0, drop_rate=0.2), data=data, **kw)
    monkeypatch.setattr(ck, "save_file", real_save_file)
    assert load_checkpoint(tmp_path / "crashed" / "checkpoints")["step"] == 4
    resumed = run(tmp_path, "crashed", model=tiny_gpt(3, drop_rate=0.2), data=data, resume_from=True, **kw)
    assert resumed.losses == pytest.approx(whole.losses[4:], abs=1e-6)
