"""Every GPU code path of chapter 8, as far as a CPU can take it: bf16 autocast, fp16 with a gradient scaler (a step
with inf gradients skipped), torch.compile of a tiny model, one training step at the 124M shape of the ``gpu`` and
``gpu-t4`` presets, the padded vocabulary, resuming from a copied run folder (as from Google Drive), and the
choice of preset, precision, peak FLOP/s and starting weights for the cards a learner meets, from the memory each
card reports. ``benchmarks/gpu_check.py`` runs the same paths on a real GPU."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch

from t2sql_lib import config as cf
from t2sql_lib import hardware as hw
from t2sql_lib import pipeline as pl
from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.checkpoint import load_checkpoint
from t2sql_lib.config import TrainSettings, load_preset
from t2sql_lib.lm_data import SlidingWindowDataset
from t2sql_lib.model import GPTConfig, GPTModel

VOCAB, SEQ = 48, 16
GIB = 2**30


def tiny_gpt(seed: int = 0, drop_rate: float = 0.0) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(GPTConfig(vocab_size=VOCAB, context_length=SEQ, emb_dim=32, n_heads=2, n_layers=2,
                              drop_rate=drop_rate))


def stream_data(n_tokens: int = 2000) -> SlidingWindowDataset:
    return SlidingWindowDataset(train_cli.synthetic_token_stream(n_tokens, VOCAB, seed=0), SEQ)


def settings(**kw) -> TrainSettings:
    base = dict(batch_size=4, learning_rate=3e-3, warmup_steps=2, max_steps=6, eval_every=0, seed=7)
    return TrainSettings(**{**base, **kw})


def run(tmp_path, name: str, model: GPTModel | None = None, **kw) -> tr.TrainResult:
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    s = settings(**{k: v for k, v in kw.items() if k in fields})
    extra = {k: v for k, v in kw.items() if k not in fields}
    options = tr.RunOptions(out_dir=tmp_path / name, device="cpu", progress=False, verbose=False, **extra)
    return tr.train(model or tiny_gpt(), stream_data(), s, options=options)


# --- mixed precision ----------------------------------------------------------------------------------

def test_bf16_autocast_runs_matmuls_in_bf16_and_keeps_fp32_weights_and_loss():
    model = tiny_gpt()
    precision = hw.Precision("bf16", "cpu", torch.amp.GradScaler("cpu", enabled=False))
    x = torch.randint(0, VOCAB, (2, SEQ))
    with precision.autocast():
        logits = model(x)  # (batch, tokens, vocab)
        loss = tr.lm_loss_sum(logits, x)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32  # cross-entropy autocasts to fp32
    loss.backward()
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        reference = tr.lm_loss_sum(model(x), x)
    assert loss.item() == pytest.approx(reference.item(), rel=0.02)  # bf16 rounding, same model


def fp16_on_cpu() -> hw.Precision:
    """The engine's T4 path on the CPU: fp16 autocast and an enabled gradient scaler (the scaler runs on CPU)."""
    return hw.Precision("fp16", "cpu", torch.amp.GradScaler("cpu", init_scale=2.0**16))


def test_fp16_with_the_scaler_skips_a_step_with_inf_gradients(tmp_path):
    """Step 3's gradients are inf: the scaler skips the update (weights unchanged) and halves its scale;
    the run goes on, and the other steps update the weights."""
    model = tiny_gpt()
    backward_calls = {"n": 0}

    def poison(grad):
        backward_calls["n"] += 1
        return grad * math.inf if backward_calls["n"] == 3 else grad

    model.blocks[0].ff.fc.weight.register_hook(poison)
    snapshots = []

    def snapshot(result):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    result = run(tmp_path, "fp16", model=model, max_steps=5, log_every=1, callback=snapshot, precision_setup=fp16_on_cpu())
    assert result.precision == "fp16" and len(result.losses) == 5
    assert all(math.isfinite(loss) for loss in result.losses)  # the forward pass never overflowed

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(snapshots[1], snapshots[2])  # step 3 skipped
    assert not same(snapshots[0], snapshots[1]) and not same(snapshots[2], snapshots[3])
    rows = tr.read_csv_log(result.out_dir / tr.TRAIN_LOG)
    assert not math.isfinite(rows[2]["grad_norm"]) and all(math.isfinite(r["grad_norm"]) for r in rows[3:])
    scaler = load_checkpoint(result.out_dir / "checkpoints")["state"]["scaler"]
    assert scaler["scale"] == 2.0**15  # halved once, at the skipped step


def test_fp16_scaler_state_survives_a_resume(tmp_path):
    whole = run(tmp_path, "whole", max_steps=6, precision_setup=fp16_on_cpu())
    run(tmp_path, "cut", max_steps=6, stop_at_step=3, precision_setup=fp16_on_cpu())
    resumed = run(tmp_path, "cut", model=tiny_gpt(seed=5), max_steps=6, resume_from=True, precision_setup=fp16_on_cpu())
    assert resumed.losses == pytest.approx(whole.losses[3:], abs=1e-5)


# --- torch.compile ------------------------------------------------------------------------------------

def test_compiled_tiny_model_matches_eager_in_one_graph():
    """Dynamo captures the whole model (``fullgraph``: no graph break) and AOTAutograd its backward; the
    ``aot_eager`` backend runs the captured graphs without generating code, so no C++ compiler is needed."""
    pytest.importorskip("torch._dynamo")
    model = tiny_gpt()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = torch.randint(0, VOCAB, (2, SEQ))
    out = compiled(x)
    out.float().pow(2).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    ref = model(x)
    ref.float().pow(2).mean().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    assert all(torch.allclose(grads[n], p.grad, atol=1e-5) for n, p in model.named_parameters())
    assert pl.unwrap(compiled) is model  # checkpoints and trim_vocab see the model, not the wrapper
    assert pl.trim_vocab(compiled, VOCAB - 3).cfg.vocab_size == VOCAB - 3


@pytest.mark.skipif(not os.environ.get("T2SQL_TEST_INDUCTOR"),
                    reason="inductor builds C++ for the CPU: about 100 s for the tiny model on one core, more "
                           "than CI affords; set T2SQL_TEST_INDUCTOR=1 to run it (gpu_check.py compiles on a GPU)")
def test_inductor_compile_of_the_tiny_model():
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler: inductor cannot build CPU kernels here")
    model = tiny_gpt()
    x = torch.randint(0, VOCAB, (2, SEQ))
    assert torch.allclose(torch.compile(model)(x), model(x), atol=1e-4)


# --- the 124M shape -----------------------------------------------------------------------------------

def _gpt2_small(cfg: GPTConfig) -> GPTModel:
    """The preset's model at its real shape, filled from a small random tile: drawing 124M random values one by
    one costs seconds on one core, and the step below checks shapes and dtypes, not the initialisation."""
    with torch.device("meta"):
        model = GPTModel(cfg)
    model = model.to_empty(device="cpu")
    if cfg.tie_weights:
        model.lm_head.weight = model.tok_emb.weight  # to_empty gives every parameter its own storage
    tile = torch.randn(1 << 16, generator=torch.Generator().manual_seed(0)) * 0.02
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.view(-1)
            flat.copy_(tile.repeat(-(-flat.numel() // tile.numel()))[: flat.numel()])
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
    return model.train()


@pytest.mark.slow
def test_one_training_step_at_the_gpu_presets_124m_shape():
    """The ``gpu`` and ``gpu-t4`` presets share GPT-2 small's shape; one bf16 forward, backward and fused-AdamW
    step (the optimizer the engine builds on CUDA) at 32 tokens, batch 1: finite, every weight moved."""
    gpu, t4 = load_preset("gpu"), load_preset("gpu-t4")
    assert gpu.model == t4.model
    assert (gpu.train.precision, t4.train.precision, gpu.train.compile) == ("bf16", "fp16", True)
    cfg = gpu.model
    model = _gpt2_small(cfg)
    assert model.num_parameters() == pytest.approx(124.4e6, rel=0.01)
    try:
        optimizer = tr.build_optimizer(model, gpu.train, device=torch.device("cuda"))  # fused=True
    except (RuntimeError, ValueError) as err:  # PyTorch before 2.4: no fused AdamW on the CPU
        pytest.skip(f"no fused AdamW on the CPU in this PyTorch: {err}")
    before = {n: p.detach()[:2].clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, cfg.vocab_size, (1, 32), generator=g)
    y = torch.randint(0, cfg.vocab_size, (1, 32), generator=g)
    precision = hw.Precision("bf16", "cpu", torch.amp.GradScaler("cpu", enabled=False))
    with precision.autocast():
        logits = model(x)  # (1, 32, 50304)
        loss = tr.lm_loss_sum(logits, y) / y.numel()
    assert logits.shape == (1, 32, cfg.vocab_size) and math.isfinite(loss.item())
    loss.backward()
    norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), gpu.train.grad_clip))
    assert math.isfinite(norm) and norm > 0
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    assert not any(torch.equal(before[n], p.detach()[:2]) for n, p in model.named_parameters())
    assert hw.step_flops(model, [x]) == pytest.approx(32 * model.flops_per_token(seq_len=32))


# --- the padded vocabulary ----------------------------------------------------------------------------

def test_vocabulary_padding_at_the_gpu_sizes():
    gpu = load_preset("gpu")
    bpe_ids = gpu.data.tokenizer_vocab_size + 4  # the course's BPE and its special tokens
    assert pl.model_config(gpu, bpe_ids).vocab_size == 16448 == pl.padded_vocab_size(bpe_ids)
    assert pl.model_config(gpu, 50_261, "gpt2").vocab_size == 50304 == gpu.model.vocab_size
    model = pl.build_model(load_preset("tiny"), 1019)
    assert model.cfg.vocab_size == 1024
    x = torch.randint(0, 1019, (1, 12))
    trimmed = pl.trim_vocab(model, 1019).eval()
    with torch.no_grad():
        full = model.eval()(x)
        assert torch.equal(trimmed(x), full[..., :1019])  # the padding rows cut off, the real logits unchanged


# --- resuming from a copied run folder (Google Drive) -------------------------------------------------

def test_resume_from_a_copied_run_folder(tmp_path):
    """A run stopped at step 4 on the machine's disk, copied elsewhere (file contents only, as a Drive sync
    copies them), the original deleted: the copy resumes and ends as the uninterrupted run does."""
    whole = run(tmp_path, "whole", max_steps=8, eval_every=4)
    local = run(tmp_path, "local", max_steps=8, eval_every=4, stop_at_step=4).out_dir
    drive = tmp_path / "drive" / "MyDrive" / "ch08"
    shutil.copytree(local, drive, copy_function=shutil.copyfile)
    shutil.rmtree(local)
    for f in (drive / "checkpoints").rglob("*"):  # no checkpoint file points back at the folder it came from
        assert not f.is_file() or str(local).encode() not in f.read_bytes(), f
    resumed = run(tmp_path, "drive/MyDrive/ch08", model=tiny_gpt(seed=3), max_steps=8, eval_every=4,
                  resume_from=True)
    assert resumed.step == 8 and resumed.losses == pytest.approx(whole.losses[4:], abs=1e-6)
    explicit = tmp_path / "again"
    shutil.copytree(drive, explicit, copy_function=shutil.copyfile)
    again = tr.train(tiny_gpt(seed=4), stream_data(), settings(max_steps=8, eval_every=4),
                     options=tr.RunOptions(out_dir=tmp_path / "elsewhere", resume_from=explicit / "checkpoints",
                                           device="cpu", progress=False, verbose=False))
    assert again.step == 8


# --- the choice of preset, precision and weights, from the card ---------------------------------------

# (name as torch reports it, reported total memory in GiB, compute capability); the memory is what
# torch.cuda.get_device_properties().total_memory gives, below the size on the box (two readings where they vary)
CARDS = {
    "T4": ("Tesla T4", (14.58, 14.75), (7, 5)),
    "L4": ("NVIDIA L4", (21.96, 22.49), (8, 9)),
    "A100-40GB": ("NVIDIA A100-SXM4-40GB", (39.39, 39.59), (8, 0)),
    "A100-80GB": ("NVIDIA A100-SXM4-80GB", (79.15, 80.0), (8, 0)),
    "H100": ("NVIDIA H100 80GB HBM3", (79.11, 79.65), (9, 0)),
    "H200": ("NVIDIA H200", (139.8, 140.4), (9, 0)),
}
# card: (memory tier, preset, chapter 8's starting weights, precision, peak TFLOP/s)
EXPECTED = {
    "T4": ("small", "gpu-t4", "gpt2", "fp16", 65.0),
    "L4": ("medium", "gpu", "gpt2", "bf16", 121.0),
    "A100-40GB": ("large", "gpu", "gpt2-medium", "bf16", 312.0),
    "A100-80GB": ("large", "gpu", "gpt2-medium", "bf16", 312.0),
    "H100": ("large", "gpu", "gpt2-medium", "bf16", 989.0),
    "H200": ("large", "gpu", "gpt2-medium", "bf16", 989.0),
}


def fake_card(monkeypatch, card: str, gib: float) -> None:
    name, _, (major, minor) = CARDS[card]
    props = SimpleNamespace(name=name, total_memory=int(gib * GIB), major=major, minor=minor,
                            multi_processor_count=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # T4: emulated


def chapter8_cell(marker: str) -> str:
    nb = nbformat.read(Path(__file__).resolve().parent.parent / "chapters" / "08_gpu_training.ipynb", as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return source


@pytest.mark.parametrize("card,reading", [(c, i) for c in CARDS for i in (0, 1)])
def test_choices_from_the_card(monkeypatch, capsys, card, reading):
    gib = CARDS[card][1][reading]
    fake_card(monkeypatch, card, gib)
    monkeypatch.delenv(cf.ENV_VAR, raising=False)
    tier, preset_name, init, precision, tflops = EXPECTED[card]
    assert cf.gpu_memory_tier(int(gib * GIB)) == tier
    assert cf.auto_preset_name() == preset_name
    preset = cf.get_preset()
    assert preset.name == preset_name
    assert hw.resolve_precision(preset.train.precision, "cuda") == precision
    assert hw.resolve_precision("auto", "cuda") == precision
    assert hw.peak_flops("cuda", precision) == tflops * 1e12
    # chapter 8's own cell, run as the notebook runs it
    namespace = {"torch": torch, "get_preset": cf.get_preset, "gpu_memory_tier": cf.gpu_memory_tier, "ON_GPU": True}
    exec(chapter8_cell("big_card ="), namespace)
    assert (namespace["preset"].name, namespace["INIT"]) == (preset_name, init)
    assert f"preset {preset_name}, weights from {init}" in capsys.readouterr().out


def test_the_tier_boundaries_sit_between_the_cards():
    """Each floor has room on both sides: the largest card of a tier reports well below the next floor."""
    small_max, medium_min = max(CARDS["T4"][1]), min(CARDS["L4"][1])
    medium_max, large_min = max(CARDS["L4"][1]), min(CARDS["A100-40GB"][1])
    assert small_max + 2 < cf.GPU_TIER_MIN_GIB["medium"] < medium_min
    assert medium_max + 2 < cf.GPU_TIER_MIN_GIB["large"] < large_min - 2
    assert cf.gpu_memory_tier(0) == "small"


def test_no_gpu_means_the_laptop_preset_and_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cf.auto_preset_name() == "laptop"
    assert hw.resolve_precision("auto", "cpu") == "fp32"
    assert hw.peak_flops("cpu", "bf16") is None
