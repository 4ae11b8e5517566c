"""LoRA from scratch (t2sql_lib.lora): identity at init, frozen base, parameter count, merge, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from t2sql_lib.config import TrainSettings
from t2sql_lib.lora import (
    DEFAULT_TARGETS,
    LoRALinear,
    apply_lora,
    count_parameters,
    lora_layers,
    lora_parameter_count,
    merge_lora,
)
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.train import build_optimizer

CFG = GPTConfig(vocab_size=97, context_length=32, emb_dim=24, n_heads=2, n_layers=2, drop_rate=0.0)


def _model(seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(CFG).eval()


def _ids(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, CFG.vocab_size, (3, 17), generator=torch.Generator().manual_seed(seed))  # (batch, tokens)


def test_lora_layer_starts_equal_to_the_wrapped_linear():
    torch.manual_seed(0)
    base = nn.Linear(24, 40)
    layer = LoRALinear(base, rank=4, alpha=8.0)
    x = torch.randn(5, 7, 24)
    assert torch.equal(layer.lora_B, torch.zeros(40, 4))  # B = 0
    assert layer.lora_A.abs().sum() > 0  # A random, or B would never get a gradient
    assert torch.equal(layer(x), base(x))
    assert layer.scaling == 2.0 and (layer.in_features, layer.out_features) == (24, 40)


def test_wrapped_model_starts_equal_to_the_base_model():
    model, ids = _model(), _ids()
    expected = model(ids)
    apply_lora(model, rank=3, alpha=6.0)
    assert torch.equal(model(ids), expected)


def test_only_lora_parameters_are_trainable():
    model = _model()
    names = apply_lora(model, rank=4, alpha=8.0)
    assert len(names) == 4 * CFG.n_layers  # qkv, out_proj, ff.fc, ff.proj in every block
    assert all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert not model.lm_head.weight.requires_grad and not model.tok_emb.weight.requires_grad


def test_trainable_parameter_count_formula():
    model = _model()
    full = count_parameters(model)
    assert full["trainable"] == full["total"] == model.num_parameters()
    rank, d = 4, CFG.emb_dim
    # per block: qkv d -> 3d, out_proj d -> d, ff.fc d -> 4d, ff.proj 4d -> d: r * (4d + 2d + 5d + 5d) = 16 r d
    by_hand = CFG.n_layers * rank * 16 * d
    assert lora_parameter_count(model, rank) == by_hand
    assert lora_parameter_count(model, rank, ("att.qkv",)) == CFG.n_layers * rank * 4 * d
    apply_lora(model, rank=rank, alpha=8.0)
    counts = count_parameters(model)
    assert counts["trainable"] == by_hand
    assert counts["total"] == full["total"] + by_hand


def test_merge_gives_the_same_outputs_and_removes_the_adapters():
    model, ids = _model(), _ids()
    apply_lora(model, rank=4, alpha=8.0, targets=DEFAULT_TARGETS)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.normal_(std=0.05)  # as if trained
    before = model(ids)
    assert not torch.allclose(before, _model()(ids), atol=1e-4)  # the adapters change the outputs
    assert merge_lora(model) == 4 * CFG.n_layers
    assert lora_layers(model) == {}
    assert not any("lora_" in k for k in model.state_dict())
    assert type(model.blocks[0].att.qkv) is nn.Linear
    torch.testing.assert_close(model(ids), before, atol=1e-5, rtol=1e-5)
    assert count_parameters(model)["total"] == _model().num_parameters()  # the base model's size again


def test_gradients_reach_only_the_adapters_and_the_optimizer_skips_frozen_weights():
    model, ids = _model(), _ids()
    apply_lora(model, rank=2, alpha=4.0, targets=("att.qkv", "att.out_proj"))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    model.train()
    optimizer = build_optimizer(model, TrainSettings(learning_rate=1e-2))
    in_optimizer = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert in_optimizer == count_parameters(model)["trainable"]
    loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), _ids(2).flatten())
    loss.backward()
    for name, p in model.named_parameters():
        if name.endswith("lora_B"):
            assert p.grad is not None and p.grad.abs().sum() > 0
        elif name.endswith("lora_A"):
            assert p.grad is not None  # zero at the first step (B = 0), but it flows
        else:
            assert p.grad is None, name
    optimizer.step()
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name
    assert all(layer.lora_B.abs().sum() > 0 for layer in lora_layers(model).values())


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 4), rank=0, alpha=1.0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_lora(_model(), targets=("att.nothing",))
