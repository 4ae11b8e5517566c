"""Chapter 8's pipeline and the engine's GPU-run features: model FLOPs utilisation, checkpoints every N minutes,
the padded vocabulary, scoring with several decoders, the `--task sft` command line (one process and torchrun)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from t2sql_lib import hardware as hw
from t2sql_lib import pipeline as pl
from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.checkpoint import load_checkpoint
from t2sql_lib.config import TrainSettings, load_preset
from t2sql_lib.lm_data import SlidingWindowDataset
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.model_folder import load_model_folder
from t2sql_lib.wikisql import load_wikisql, write_wikisql_fixture

VOCAB, SEQ = 48, 16


def tiny_gpt(seed: int = 0, vocab: int = VOCAB) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(GPTConfig(vocab_size=vocab, context_length=SEQ, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0))


def stream_data(n_tokens: int = 2000) -> SlidingWindowDataset:
    return SlidingWindowDataset(train_cli.synthetic_token_stream(n_tokens, VOCAB, seed=0), SEQ)


def settings(**kw) -> TrainSettings:
    base = dict(batch_size=4, learning_rate=3e-3, warmup_steps=2, max_steps=8, eval_every=0, seed=7)
    return TrainSettings(**{**base, **kw})


# --- model FLOPs utilisation --------------------------------------------------------------------------

def test_peak_flops_table():
    peak = hw.peak_flops
    assert peak("cuda", "bf16", "NVIDIA H100 80GB HBM3") == 989e12
    assert peak("cuda", "bf16", "NVIDIA H200") == 989e12
    assert peak("cuda", "bf16", "NVIDIA H100 PCIe") == 756e12
    assert peak("cuda", "bf16", "NVIDIA A100-SXM4-40GB") == 312e12
    assert peak("cuda", "fp16", "Tesla T4") == 65e12
    assert peak("cuda", "bf16", "NVIDIA L4") == 121e12
    assert peak("cuda", "bf16", "NVIDIA L40S") is None  # not an L4: an unknown card gives no guess
    assert peak("cuda", "fp32", "NVIDIA A100-SXM4-40GB") is None  # the table is for 16-bit tensor cores
    assert peak("cpu", "fp32") is None and peak("cpu", "bf16") is None


def test_mfu_against_a_hand_computation():
    model = tiny_gpt()
    # per token, per block: 24 d^2 (projections and feed-forward) + 4 T d (attention); plus 2 d V for the head;
    # forward + backward = 3 x forward
    d, layers, vocab, seq = 32, 2, VOCAB, 10
    forward = layers * (24 * d * d + 4 * seq * d) + 2 * d * vocab
    assert forward == 2 * (24_576 + 1_280) + 3_072 == 54_784
    batches = [torch.zeros(4, seq, dtype=torch.long), torch.zeros(2, seq, dtype=torch.long)]
    flops = hw.step_flops(model, batches)
    assert flops == 3 * forward * (4 + 2) * seq == 9_861_120
    assert hw.model_flops_utilisation(flops, 0.5, 1e9) == pytest.approx(9_861_120 / 0.5 / 1e9)
    assert hw.model_flops_utilisation(flops, 0.5, 1e9, world_size=2) == pytest.approx(9_861_120 / 0.5 / 2e9)
    assert hw.model_flops_utilisation(flops, 0.5, None) is None
    assert hw.step_flops(torch.nn.Linear(2, 2), batches) is None  # no flops_per_token: unknown
    line = hw.throughput_line(40, {"time": 2.0, "tokens": 1000, "flops": 5e11, "loss": 6.0, "steps": 2}, 1e12)
    assert line == "step 40: loss 3.0000, 500 tokens/s, MFU 25.0%"
    assert "MFU unknown" in hw.throughput_line(1, {"time": 1.0, "tokens": 1, "flops": 1.0, "loss": 1.0,
                                                   "steps": 1}, None)


def test_training_records_throughput_and_mfu(tmp_path, monkeypatch, capsys):
    """With a (pretended) known peak the CSV holds each step's MFU = flops / seconds / peak, and log_every prints."""
    cpu = tr.train(tiny_gpt(), stream_data(), settings(max_steps=2),
                   options=tr.RunOptions(out_dir=tmp_path / "cpu", device="cpu", progress=False, verbose=False))
    assert cpu.mfu is None and cpu.peak_flops is None and cpu.tokens_per_s > 0  # a CPU has no known peak
    assert "mfu" not in tr.read_csv_log(tmp_path / "cpu" / tr.TRAIN_LOG)[0]

    monkeypatch.setattr(tr, "peak_flops", lambda device, precision: 1e9)  # the loop's reference to the peak
    called = []  # the callback (a notebook's live plot) runs after each log line and evaluation, logs on disk
    options = tr.RunOptions(out_dir=tmp_path / "run", device="cpu", progress=False,
                            callback=lambda r: called.append((r.step, len(tr.read_csv_log(r.out_dir / tr.TRAIN_LOG)))))
    result = tr.train(tiny_gpt(), stream_data(), settings(max_steps=5, log_every=2), options=options)
    printed = capsys.readouterr().out
    assert printed.count("tokens/s, MFU ") == 2 and "step 4: loss" in printed
    assert called == [(2, 2), (4, 4), (5, 5)]  # steps 2 and 4 logged; 5 is the last step, an evaluation
    per_step = hw.step_flops(tiny_gpt(), [torch.zeros(4, SEQ)])
    rows = tr.read_csv_log(tmp_path / "run" / tr.TRAIN_LOG)
    for row in rows:
        seconds = 4 * SEQ / row["tokens_per_s"]
        assert row["mfu"] == pytest.approx(per_step / seconds / 1e9, rel=1e-6)
    assert result.peak_flops == 1e9 and 0 < result.mfu == pytest.approx(
        5 * per_step / sum(4 * SEQ / r["tokens_per_s"] for r in rows) / 1e9, rel=1e-3)


# --- checkpoints every N minutes ----------------------------------------------------------------------

class FakeClock:
    """30 seconds pass at every reading; ``fail_at`` readings in, it raises (a lost Colab session)."""

    def __init__(self, fail_at: int | None = None):
        self.now, self.calls, self.fail_at = 0.0, 0, fail_at

    def __call__(self) -> float:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt("disconnected")
        self.now += 30.0
        return self.now


def test_checkpoint_every_minutes_then_exact_resume(tmp_path, monkeypatch):
    saved = []
    real_save = tr.save_checkpoint

    def recording_save(root, **kw):
        saved.append(kw["step"])
        return real_save(root, **kw)

    monkeypatch.setattr(tr, "save_checkpoint", recording_save)
    kw = dict(device="cpu", progress=False, verbose=False)
    monkeypatch.setattr(tr, "wall_clock", FakeClock())
    whole = tr.train(tiny_gpt(), stream_data(), settings(checkpoint_every_minutes=1.0),
                     options=tr.RunOptions(out_dir=tmp_path / "whole", **kw))
    # a reading per step, and one after each save: 60 s (1 minute) have passed at steps 2, 4 and 6; 8 is the end
    assert saved == [2, 4, 6, 8]
    saved.clear()
    monkeypatch.setattr(tr, "wall_clock", FakeClock())
    tr.train(tiny_gpt(), stream_data(), settings(checkpoint_every_minutes=0),
             options=tr.RunOptions(out_dir=tmp_path / "off", **kw))
    assert saved == [8]  # 0: only at evaluations and at the end

    # disconnected during step 5 (after the step-4 checkpoint), then resumed: the same losses as one whole run
    saved.clear()
    monkeypatch.setattr(tr, "wall_clock", FakeClock(fail_at=7))  # start, 1, 2, save, 3, 4, save: the 7th fails
    with pytest.raises(KeyboardInterrupt):
        tr.train(tiny_gpt(), stream_data(), settings(checkpoint_every_minutes=1.0),
                 options=tr.RunOptions(out_dir=tmp_path / "cut", **kw))
    assert saved == [2, 4] and load_checkpoint(tmp_path / "cut" / "checkpoints")["step"] == 4
    monkeypatch.setattr(tr, "wall_clock", FakeClock())
    resumed = tr.train(tiny_gpt(seed=99), stream_data(), settings(checkpoint_every_minutes=1.0),
                       options=tr.RunOptions(out_dir=tmp_path / "cut", resume_from=True, **kw))
    assert resumed.step == 8 and resumed.losses == pytest.approx(whole.losses[4:], abs=1e-6)


# --- vocabulary padding, models, data -----------------------------------------------------------------

def test_padded_vocabulary():
    assert pl.padded_vocab_size(50261) == 50304  # GPT-2's 50257 + the course's 4 special tokens
    assert pl.padded_vocab_size(1024) == 1024 and pl.padded_vocab_size(1019) == 1024
    assert pl.padded_vocab_size(1) == 64 and pl.padded_vocab_size(65) == 128
    with pytest.raises(ValueError, match="at least 1"):
        pl.padded_vocab_size(0)
    preset = load_preset("tiny")
    assert pl.model_config(preset, 400).vocab_size == 448
    gpt2 = pl.model_config(preset, 50261, "gpt2")
    assert (gpt2.vocab_size, gpt2.emb_dim, gpt2.n_layers, gpt2.qkv_bias) == (50304, 768, 12, True)
    assert gpt2.context_length == preset.model.context_length
    assert pl.model_config(preset, 50261, "gpt2-medium").emb_dim == 1024


def test_trim_vocab_keeps_the_real_logits():
    padded = tiny_gpt(vocab=64).eval()
    trimmed = pl.trim_vocab(padded, 45)
    assert trimmed.cfg.vocab_size == 45 and trimmed.lm_head.weight is trimmed.tok_emb.weight
    x = torch.randint(0, 45, (2, 7))
    with torch.no_grad():
        assert torch.allclose(trimmed(x), padded(x)[..., :45], atol=1e-6)
    with pytest.raises(ValueError, match="larger than"):
        pl.trim_vocab(padded, 65)


def test_clear_errors_for_bad_arguments(tmp_path):
    assert pl.check_data_names("synth, wikisql,synth") == ["synth", "wikisql"]
    with pytest.raises(ValueError, match=r"unknown data 'spyder'.*synth.*wikisql.*spider"):
        pl.check_data_names("synth,spyder")
    with pytest.raises(ValueError, match="none given"):
        pl.check_data_names([])
    missing = tmp_path / "no_spider_here"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        pl.load_data("spider", load_preset("tiny"), spider_dir=missing)
    with pytest.raises(ValueError, match="init 'gpt3'"):
        pl.gpt2_name("gpt3")
    with pytest.raises(ValueError, match="unknown decoder"):
        pl.evaluate_decoders(tiny_gpt(), None, {}, ["greedy", "psychic"])
    assert train_cli.main(["--task", "sft", "--config", "tiny", "--data", "nope", "--out", str(tmp_path / "x")]) == 2
    assert train_cli.main(["--task", "lm", "--config", "tiny", "--data", "wikisql", "--out", str(tmp_path / "y")]) == 2
    assert train_cli.main(["--task", "sft", "--config", "tiny", "--decoders", "greedy,psychic",
                    "--out", str(tmp_path / "z")]) == 2


def test_spider_data(spider):
    preset = load_preset("tiny").with_overrides(["data.max_examples_per_dataset=20"])
    data = pl.load_data("spider", preset, spider_dir=spider)
    assert len(data["train"]) == 20 and data["validation"] == [] and len(data["test"]) > 100
    assert {e.meta["hardness"] for e in data["test"]} <= {"easy", "medium", "hard", "extra", "unknown"}


# --- scoring with several decoders --------------------------------------------------------------------

def test_decoder_results_table(splits, tokenizer, tmp_path):
    wiki = list(load_wikisql(write_wikisql_fixture(tmp_path / "wiki"), split="test", download=False))
    model = pl.build_model(load_preset("tiny").with_overrides(["model.n_layers=1", "model.emb_dim=32"]),
                           tokenizer.n_vocab)
    assert model.cfg.vocab_size == pl.padded_vocab_size(tokenizer.n_vocab) > tokenizer.n_vocab
    results = pl.evaluate_decoders(model, tokenizer, {"synth": splits["test"][:3], "wikisql": wiki},
                                   ["greedy", "constrained"], max_new_tokens=8)
    table = results.table
    assert list(table.columns) == list(pl.RESULT_COLUMNS) and table.shape == (4, len(pl.RESULT_COLUMNS))
    assert list(zip(table["dataset"], table["decoder"])) == [("synth", "greedy"), ("synth", "constrained"),
                                                             ("wikisql", "greedy"), ("wikisql", "constrained")]
    assert table["questions"].tolist() == [3, 3, len(wiki), len(wiki)]
    assert table.loc[table["dataset"] == "synth", "logical_form_accuracy"].isna().all()
    assert table.loc[table["dataset"] == "wikisql", "logical_form_accuracy"].notna().all()
    assert ((table["execution_accuracy"] >= 0) & (table["execution_accuracy"] <= 1)).all()
    assert set(results.reports) == {(d, m) for d in ("synth", "wikisql") for m in ("greedy", "constrained")}
    assert isinstance(results.hardness("synth"), pd.DataFrame)
    fig = pl.plot_results(table)
    assert len(fig.axes[0].patches) == 4


# --- the command line ---------------------------------------------------------------------------------

SFT_ARGS = ["--task", "sft", "--config", "tiny", "--data", "synth,wikisql", "--test-examples", "3",
            "--val-examples", "2", "--decoders", "greedy,execution_guided", "--no-progress", "--device", "cpu",
            "train.max_steps=4", "train.eval_every=2", "train.warmup_steps=1", "model.n_layers=1",
            "model.emb_dim=32", "model.context_length=384", "data.n_synth_examples=300",
            "data.tokenizer_vocab_size=300"]


@pytest.mark.timeout(180)
def test_sft_command_line_stop_resume_and_ask(tmp_path, capsys):
    wiki = write_wikisql_fixture(tmp_path / "wiki")
    out = tmp_path / "run"
    args = [*SFT_ARGS, "--wikisql-dir", str(wiki), "--out", str(out)]
    assert train_cli.main([*args, "--stop-at-step", "2"]) == 0
    assert not (out / "results.csv").exists()  # stopped on purpose: nothing scored yet
    assert train_cli.main([*args, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "wikisql" in printed
    assert load_checkpoint(out / "run" / "checkpoints")["step"] == 4
    table = pd.read_csv(out / "results.csv")
    assert table.shape[0] == 4 and set(table["decoder"]) == {"greedy", "execution_guided"}
    loaded = load_model_folder(out)  # what `t2sql ask --model` reads
    assert loaded.model.cfg.vocab_size == loaded.tokenizer.n_vocab
    assert loaded.config["model"]["n_layers"] == 1


@pytest.mark.timeout(240)
def test_sft_under_torchrun_two_processes(tmp_path):
    """`torchrun --nproc_per_node=2 -m t2sql_lib.train_cli --task sft` (gloo on the CPU): both ranks train, rank 0
    alone prints, scores and saves."""
    wiki = write_wikisql_fixture(tmp_path / "wiki")
    out = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                           "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    args = [a for a in SFT_ARGS if a != "greedy,execution_guided"]
    args[args.index("--decoders") + 1:args.index("--decoders") + 1] = ["greedy"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "t2sql_lib.train_cli", *args, "--wikisql-dir", str(wiki), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("2 process(es) on cpu") == 1 and proc.stdout.count("questions  databases") == 1
    ckpt = load_checkpoint(out / "run" / "checkpoints")
    assert ckpt["step"] == 4 and ckpt["state"]["progress"]["world_size"] == 2 and len(ckpt["state"]["rng"]) == 2
    assert pd.read_csv(out / "results.csv").shape[0] == 2


def test_pipeline_config_defaults():
    config = pl.PipelineConfig()
    assert config.tokenizer_kind() == "bpe"
    assert dataclasses.replace(config, init="gpt2").tokenizer_kind() == "gpt2"
    assert dataclasses.replace(config, init="gpt2", tokenizer="bpe").tokenizer_kind() == "bpe"
    assert tuple(config.decoders) == ("greedy", "constrained", "execution_guided")
