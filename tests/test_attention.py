"""Causal multi-head attention (chapter 2): the hand-written reference and the SDPA version agree and behave."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from t2sql_lib.attention import (
    MultiHeadAttention,
    NaiveMultiHeadAttention,
    fused_attention,
    merge_heads,
    split_heads,
)


def _pair(d_in, d_out, context_length, num_heads, dropout=0.0, qkv_bias=False, seed=0):
    """A naive and an SDPA layer sharing the same weights."""
    torch.manual_seed(seed)
    naive = NaiveMultiHeadAttention(d_in, d_out, context_length, dropout, num_heads, qkv_bias=qkv_bias)
    sdpa = MultiHeadAttention(d_in, d_out, context_length, dropout, num_heads, qkv_bias=qkv_bias)
    sdpa.load_state_dict(naive.state_dict())
    return naive, sdpa


@pytest.mark.parametrize(
    ("batch", "tokens", "d_in", "d_out", "heads", "qkv_bias"),
    [(1, 1, 8, 8, 1, False), (2, 7, 3, 4, 2, False), (3, 33, 16, 24, 3, True), (2, 64, 64, 64, 4, False)],
)
def test_naive_and_sdpa_agree_in_eval_mode(batch, tokens, d_in, d_out, heads, qkv_bias):
    naive, sdpa = _pair(d_in, d_out, 64, heads, dropout=0.3, qkv_bias=qkv_bias)
    naive.eval()
    sdpa.eval()
    x = torch.randn(batch, tokens, d_in)
    out_naive, out_sdpa = naive(x), sdpa(x)
    assert out_sdpa.shape == (batch, tokens, d_out)
    torch.testing.assert_close(out_sdpa, out_naive, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer_class", [NaiveMultiHeadAttention, MultiHeadAttention])
def test_changing_future_tokens_leaves_past_outputs_unchanged(layer_class):
    torch.manual_seed(1)
    layer = layer_class(8, 8, 16, 0.0, 2).eval()
    x = torch.randn(2, 10, 8)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, 8)
    out, out_changed = layer(x), layer(changed)
    torch.testing.assert_close(out[:, :6], out_changed[:, :6], atol=1e-6, rtol=0)
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


def test_first_token_output_is_its_own_value_projected():
    """Token 0 can only attend to itself, so its output is out_proj(v_0) whatever the queries and keys are."""
    torch.manual_seed(2)
    layer = MultiHeadAttention(6, 6, 8, 0.0, 3).eval()
    x = torch.randn(1, 5, 6)
    v0 = layer.qkv(x)[:, 0, 12:]  # the value part of [q | k | v] for token 0
    torch.testing.assert_close(layer(x)[:, 0], layer.out_proj(v0))


def test_split_and_merge_heads_shapes_and_layout():
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)  # (batch, tokens, d_out)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3)  # (batch, heads, tokens, head_dim)
    # head h of token t holds features h*head_dim .. (h+1)*head_dim - 1 of that token
    torch.testing.assert_close(heads[1, 2, 0], x[1, 0, 6:9])
    torch.testing.assert_close(heads[0, 3, 2], x[0, 2, 9:12])
    assert torch.equal(merge_heads(heads), x)


def test_fused_qkv_layout_is_queries_keys_values():
    """Set the fused weights by hand: rows 0..d_out are W_q, then W_k, then W_v; compare with a by-hand attention."""
    d_in, d_out, heads = 4, 4, 2
    torch.manual_seed(3)
    w_q, w_k, w_v = (torch.randn(d_out, d_in) for _ in range(3))
    layer = MultiHeadAttention(d_in, d_out, 8, 0.0, heads).eval()
    with torch.no_grad():
        layer.qkv.weight.copy_(torch.cat([w_q, w_k, w_v]))
        layer.out_proj.weight.copy_(torch.eye(d_out))
        layer.out_proj.bias.zero_()
    x = torch.randn(1, 5, d_in)
    head_dim = d_out // heads
    expected = []
    for h in range(heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        q, k, v = x[0] @ w_q[rows].T, x[0] @ w_k[rows].T, x[0] @ w_v[rows].T  # (tokens, head_dim)
        scores = (q @ k.T / head_dim**0.5).masked_fill(torch.ones(5, 5).triu(1).bool(), float("-inf"))
        expected.append(torch.softmax(scores, dim=-1) @ v)
    torch.testing.assert_close(layer(x)[0], torch.cat(expected, dim=-1), atol=1e-5, rtol=1e-5)


def test_interface_attributes():
    layer = MultiHeadAttention(16, 32, 20, 0.1, 4, qkv_bias=True)
    assert isinstance(layer.qkv, nn.Linear) and layer.qkv.weight.shape == (96, 16) and layer.qkv.bias is not None
    assert isinstance(layer.out_proj, nn.Linear) and layer.out_proj.weight.shape == (32, 32)
    assert (layer.num_heads, layer.head_dim, layer.dropout) == (4, 8, 0.1)
    assert MultiHeadAttention(16, 32, 20, 0.1, 4).qkv.bias is None
    assert set(NaiveMultiHeadAttention(16, 32, 20, 0.1, 4).state_dict()) == set(layer.state_dict()) - {"qkv.bias"}


@pytest.mark.parametrize("layer_class", [NaiveMultiHeadAttention, MultiHeadAttention])
def test_dropout_only_in_training(layer_class):
    torch.manual_seed(4)
    layer = layer_class(16, 16, 32, 0.5, 2)
    x = torch.randn(2, 12, 16)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    no_dropout = layer_class(16, 16, 32, 0.0, 2)
    no_dropout.load_state_dict(layer.state_dict())
    no_dropout.train()
    torch.testing.assert_close(no_dropout(x), layer(x))  # eval mode == training without dropout


@pytest.mark.parametrize("layer_class", [NaiveMultiHeadAttention, MultiHeadAttention])
def test_gradients_reach_every_parameter_and_the_input(layer_class):
    torch.manual_seed(5)
    layer = layer_class(8, 8, 16, 0.1, 2, qkv_bias=True)
    x = torch.randn(2, 9, 8, requires_grad=True)
    layer(x).pow(2).mean().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_naive_and_sdpa_gradients_agree():
    naive, sdpa = _pair(12, 12, 16, 3)
    x = torch.randn(2, 10, 12)
    grad_out = torch.randn(2, 10, 12)
    naive(x).backward(grad_out)
    sdpa(x).backward(grad_out)
    for (name, p_naive), p_sdpa in zip(naive.named_parameters(), sdpa.parameters()):
        torch.testing.assert_close(p_sdpa.grad, p_naive.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("layer_class", [NaiveMultiHeadAttention, MultiHeadAttention])
def test_bad_sizes_raise_clear_errors(layer_class):
    with pytest.raises(ValueError, match="divisible"):
        layer_class(8, 10, 16, 0.0, 3)
    layer = layer_class(8, 8, 4, 0.0, 2)
    with pytest.raises(ValueError, match="context_length"):
        layer(torch.randn(1, 5, 8))


def test_mask_buffer_is_not_saved():
    """The naive layer's mask is rebuilt from context_length, so checkpoints hold parameters only."""
    layer = NaiveMultiHeadAttention(8, 8, 16, 0.0, 2)
    assert "mask" not in layer.state_dict()
    assert layer.mask.shape == (16, 16) and layer.mask.dtype == torch.bool


def test_fused_attention_runs_in_fp32_under_cpu_bf16_autocast():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, requires_grad=True) for _ in range(3))
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.equal(fused_attention(q, k, v, is_causal=True), plain)  # outside autocast: SDPA itself
    with torch.autocast("cpu", dtype=torch.bfloat16):
        qb, kb, vb = (z.to(torch.bfloat16) for z in (q, k, v))  # what autocast's matmuls hand over
        out = fused_attention(qb, kb, vb, is_causal=True)
    assert out.dtype == torch.bfloat16  # the rest of the block stays in autocast's dtype
    expected = torch.nn.functional.scaled_dot_product_attention(qb.float(), kb.float(), vb.float(), is_causal=True)
    assert torch.equal(out, expected.to(torch.bfloat16))  # computed in fp32 from the bf16 inputs
    out.float().sum().backward()
    assert all(z.grad is not None and torch.isfinite(z.grad).all() for z in (q, k, v))
