"""Muon (t2sql_lib.muon): the orthogonalisation, the AdamW half against torch's AdamW, and the engine with it."""

from __future__ import annotations

import pytest
import torch

from t2sql_lib import train as tr
from t2sql_lib.muon import MuonAdamW, orthogonalize
from tests.test_train import run, settings, stream_data, tiny_gpt


@pytest.mark.parametrize("shape", [(16, 48), (48, 16), (24, 24)])
def test_orthogonalize_keeps_directions_and_evens_the_singular_values(shape):
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(shape[0], min(shape)))
    v, _ = torch.linalg.qr(torch.randn(shape[1], min(shape)))
    s = torch.logspace(0, -2, min(shape))  # singular values from 1 to 0.01: a badly conditioned gradient
    g = 7.0 * (u * s) @ v.T
    x = orthogonalize(g)
    assert x.shape == g.shape
    sv = torch.linalg.svdvals(x)
    assert sv.max() < 1.25 and sv.min() > 0.5  # every direction moves: 100x apart before, about 2x after
    # the same singular vectors: U^T X V is diagonal with positive entries
    core = u.T @ x @ v
    off = core - torch.diag(torch.diagonal(core))
    assert off.abs().max() < 1e-3 and torch.diagonal(core).min() > 0.5
    with pytest.raises(ValueError, match="2-D"):
        orthogonalize(torch.randn(3, 4, 5))


def test_adamw_groups_match_torch_adamw():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(6, 5), torch.nn.Linear(6, 5)
    b.load_state_dict(a.state_dict())
    groups = lambda m: [{"params": [m.weight], "weight_decay": 0.1}, {"params": [m.bias], "weight_decay": 0.0}]
    ours = MuonAdamW(groups(a), lr=3e-3, betas=(0.9, 0.95))
    ref = torch.optim.AdamW(groups(b), lr=3e-3, betas=(0.9, 0.95))
    for step in range(5):
        x = torch.randn(8, 6, generator=torch.Generator().manual_seed(step))
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6) and torch.allclose(a.bias, b.bias, atol=1e-6)


def test_muon_step_is_orthogonal_momentum():
    p = torch.nn.Parameter(torch.zeros(4, 8))
    opt = MuonAdamW([{"params": [p], "muon": True, "lr": 0.1, "weight_decay": 0.0}], momentum=0.5)
    g = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    p.grad = g.clone()
    opt.step()
    # first step: buffer = g, Nesterov update = g + 0.5 g; a wide matrix is not rescaled
    assert torch.allclose(p.detach(), -0.1 * orthogonalize(1.5 * g), atol=1e-6)
    with pytest.raises(ValueError, match="2-D matrices only"):
        MuonAdamW([{"params": [torch.nn.Parameter(torch.zeros(3))], "muon": True}])


def test_build_optimizer_gives_muon_the_blocks_matrices():
    model = tiny_gpt()
    opt = tr.build_optimizer(model, settings(optimizer="muon", muon_lr=0.03, weight_decay=0.1))
    assert isinstance(opt, MuonAdamW)
    by_name = {g["name"]: g for g in opt.param_groups}
    names = {id(p): n for n, p in model.named_parameters()}
    muon = [names[id(p)] for p in by_name["muon"]["params"]]
    assert muon and all(n.startswith("blocks.") and n.endswith("weight") for n in muon)
    assert by_name["muon"]["lr"] == 0.03 and by_name["muon"]["weight_decay"] == 0.0
    assert by_name["decay"]["lr"] == settings().learning_rate and by_name["decay"]["weight_decay"] == 0.1
    assert any(p is model.tok_emb.weight for p in by_name["decay"]["params"])  # embeddings stay with AdamW
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_parameters()
    with pytest.raises(ValueError, match="train.optimizer='sgd'"):
        tr.build_optimizer(model, settings(optimizer="sgd"))


def test_engine_trains_and_resumes_exactly_with_muon(tmp_path):
    data = stream_data(1000)
    kw = dict(max_steps=10, warmup_steps=2, optimizer="muon", eval_every=4, val_data=stream_data(600, seed=3))
    whole = run(tmp_path, "whole", data=data, **kw)
    assert sum(whole.losses[-3:]) / 3 < whole.losses[0] - 0.3
    first = run(tmp_path, "split", data=data, stop_at_step=4, **kw)
    second = run(tmp_path, "split", model=tiny_gpt(9), data=data, resume_from=True, **kw)
    assert first.losses + second.losses == pytest.approx(whole.losses, abs=1e-6)
