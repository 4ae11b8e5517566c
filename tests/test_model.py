"""Chapter 3: the GPT model (t2sql_lib.model)."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from t2sql_lib.attention import MultiHeadAttention
from t2sql_lib.config import get_preset
from t2sql_lib.model import (
    COPY_HEAD_DIM,
    CachedMultiHeadAttention,
    CopyHead,
    FeedForward,
    GPTConfig,
    GPTModel,
    KVCache,
    LayerNorm,
    estimate_training_memory,
    generate_greedy,
)

SMALL = GPTConfig(vocab_size=97, context_length=32, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


def small_model(seed: int = 0, **changes) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(dataclasses.replace(SMALL, **changes)).eval()


def test_presets_hold_the_model_config_itself():
    cfg = get_preset("tiny").model
    assert type(cfg) is GPTConfig and GPTModel(cfg).cfg == cfg


def test_config_rejects_heads_that_do_not_divide_the_width():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(emb_dim=30, n_heads=4)


@pytest.mark.parametrize("name, expected", [("gpt2", 124_439_808), ("gpt2-medium", 354_823_168)])
def test_gpt2_presets_have_the_published_parameter_counts(name, expected):
    cfg = GPTConfig.gpt2(name)
    assert (cfg.vocab_size, cfg.context_length, cfg.qkv_bias, cfg.drop_rate) == (50257, 1024, True, 0.0)
    with torch.device("meta"):
        assert GPTModel(cfg).num_parameters() == expected


def test_gpt2_unknown_name():
    with pytest.raises(ValueError, match="gpt2-medium"):
        GPTConfig.gpt2("gpt3")


@pytest.mark.parametrize("qkv_bias", [False, True])
@pytest.mark.parametrize("tie_weights", [False, True])
def test_forward_shape_and_qkv_bias(qkv_bias, tie_weights):
    model = small_model(qkv_bias=qkv_bias, tie_weights=tie_weights)
    logits = model(torch.randint(0, SMALL.vocab_size, (3, 11)))
    assert logits.shape == (3, 11, SMALL.vocab_size)
    for block in model.blocks:
        assert (block.att.qkv.bias is not None) == qkv_bias
        assert block.att.qkv.weight.shape == (3 * SMALL.emb_dim, SMALL.emb_dim)


def test_too_long_input_raises():
    with pytest.raises(ValueError, match="context_length"):
        small_model()(torch.zeros(1, SMALL.context_length + 1, dtype=torch.long))


def test_weight_tying_shares_one_matrix_and_saves_its_parameters():
    tied, untied = small_model(tie_weights=True), small_model(tie_weights=False)
    assert tied.lm_head.weight is tied.tok_emb.weight
    assert untied.lm_head.weight is not untied.tok_emb.weight
    assert untied.num_parameters() - tied.num_parameters() == SMALL.vocab_size * SMALL.emb_dim
    assert untied.num_parameters(non_embedding=True) == tied.num_parameters(non_embedding=True)


@pytest.mark.parametrize("tie_weights", [False, True])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_parameter_count_by_hand(tie_weights, qkv_bias):
    v, t, d, n = SMALL.vocab_size, SMALL.context_length, SMALL.emb_dim, SMALL.n_layers
    per_block = (
        2 * 2 * d  # two layer norms
        + 3 * d * d + (3 * d if qkv_bias else 0)  # qkv
        + d * d + d  # attention output projection
        + d * 4 * d + 4 * d + 4 * d * d + d  # feed-forward
    )
    non_embedding = n * per_block + 2 * d  # + final layer norm
    total = non_embedding + v * d + t * d + (0 if tie_weights else v * d)
    model = small_model(tie_weights=tie_weights, qkv_bias=qkv_bias)
    assert model.num_parameters() == total
    assert model.num_parameters(non_embedding=True) == non_embedding


def test_initialisation():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=512, context_length=64, emb_dim=256, n_heads=4, n_layers=8, drop_rate=0.0)
    model = GPTModel(cfg)
    scaled = 0.02 / math.sqrt(2 * cfg.n_layers)
    for block in model.blocks:
        assert block.att.out_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.ff.proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.ff.fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert block.att.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.all(block.ff.fc.bias == 0) and torch.all(block.norm1.weight == 1)
    assert model.tok_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)
    # an untrained model is close to a uniform guess
    idx = torch.randint(0, cfg.vocab_size, (4, 32))
    with torch.no_grad():
        loss = F.cross_entropy(model(idx).flatten(0, 1), torch.randint(0, cfg.vocab_size, (128,)))
    assert abs(loss.item() - math.log(cfg.vocab_size)) < 0.1


def test_layer_norm_matches_pytorch():
    torch.manual_seed(0)
    ours, ref = LayerNorm(16), torch.nn.LayerNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ours.bias.uniform_(-1, 1)
        ref.load_state_dict(ours.state_dict())
    x = 5 * torch.randn(3, 7, 16) + 2
    torch.testing.assert_close(ours(x), ref(x))


def test_feed_forward_uses_tanh_gelu():
    torch.manual_seed(0)
    ff = FeedForward(SMALL)
    x = torch.randn(2, 3, SMALL.emb_dim)
    h = ff.fc(x)
    gelu = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    torch.testing.assert_close(ff(x), ff.proj(gelu))


@pytest.mark.parametrize("train_mode", [False, True])
def test_causality(train_mode):
    model = small_model()
    model.train(train_mode)  # dropout is 0, so train mode is deterministic too
    torch.manual_seed(1)
    a = torch.randint(0, SMALL.vocab_size, (2, 20))
    b = a.clone()
    b[:, 12:] = (b[:, 12:] + 1) % SMALL.vocab_size
    with torch.no_grad():
        la, lb = model(a), model(b)
    torch.testing.assert_close(la[:, :12], lb[:, :12])
    assert not torch.allclose(la[:, 12:], lb[:, 12:])


def test_flops_hand_count():
    cfg = GPTConfig(vocab_size=1024, context_length=256, emb_dim=64, n_heads=2, n_layers=2, drop_rate=0.0)
    model = GPTModel(cfg)
    # per block 24 * 64^2 + 4 * 256 * 64 = 98_304 + 65_536; two blocks; output layer 2 * 64 * 1024 = 131_072
    assert model.flops_per_token(backward=False) == 2 * (98_304 + 65_536) + 131_072 == 458_752
    assert model.flops_per_token() == 3 * 458_752
    assert model.flops_per_token(seq_len=16, backward=False) == 2 * (98_304 + 4 * 16 * 64) + 131_072


@pytest.mark.parametrize("copy_head", [False, True])
def test_flops_match_pytorchs_counter_for_the_matmuls(copy_head):
    model = small_model(copy_head=copy_head)
    model.train()
    seq_len = 24
    idx = torch.randint(0, SMALL.vocab_size, (1, seq_len))
    attention = SMALL.n_layers * 4 * seq_len * SMALL.emb_dim  # inside the fused kernel, not counted on CPU
    with FlopCounterMode(display=False) as counter:
        model(idx)
    assert counter.get_total_flops() / seq_len + attention == model.flops_per_token(seq_len, backward=False)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(idx).flatten(0, 1), idx.flatten()).backward()
    assert counter.get_total_flops() / seq_len + 3 * attention == model.flops_per_token(seq_len)


@pytest.mark.parametrize("copy_head", [False, True])
@pytest.mark.parametrize("pos_encoding", ["learned", "rope"])
@pytest.mark.parametrize("drop_rate", [0.0, 0.1])
def test_memory_estimate_matches_saved_tensors(pos_encoding, drop_rate, copy_head):
    # dropout on a CPU runs attention's plain path, which keeps (tokens x tokens) weights per head
    cfg = dataclasses.replace(SMALL, context_length=64, pos_encoding=pos_encoding, drop_rate=drop_rate,
                              copy_head=copy_head)
    model = GPTModel(cfg).train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    idx = torch.randint(0, cfg.vocab_size, (4, 64))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
    estimate = estimate_training_memory(cfg, batch_size=4, seq_len=64)
    assert estimate["activations"] == pytest.approx(sum(storages.values()), rel=0.05)
    n = model.num_parameters()
    assert estimate["parameters"] == estimate["gradients"] == 4 * n
    assert estimate["adamw_state"] == 8 * n
    assert estimate["total"] == sum(v for k, v in estimate.items() if k != "total")
    half = estimate_training_memory(cfg, batch_size=4, seq_len=64, bytes_per_value=2)
    assert half["activations"] * 2 == estimate["activations"]
    on_gpu = estimate_training_memory(cfg, batch_size=4, seq_len=64, device="cuda")["activations"]
    if drop_rate:  # fused kernels apply dropout themselves: no (tokens x tokens) weights kept
        assert on_gpu < estimate["activations"]
    else:
        assert on_gpu == estimate["activations"]


def test_memory_estimate_rejects_an_unknown_device():
    with pytest.raises(ValueError, match="device='tpu'"):
        estimate_training_memory(SMALL, batch_size=1, device="tpu")


def test_generate_greedy_is_argmax_step_by_step():
    model = small_model()
    prompt = torch.randint(0, SMALL.vocab_size, (2, 5))
    out = generate_greedy(model, prompt, max_new_tokens=6)
    assert out.shape == (2, 11)
    assert torch.equal(out[:, :5], prompt)
    assert torch.equal(out, generate_greedy(model, prompt, max_new_tokens=6))  # deterministic
    with torch.no_grad():
        for t in range(5, 11):
            assert torch.equal(out[:, t], model(out[:, :t])[:, -1].argmax(-1))


def test_generate_greedy_crops_to_the_context_and_restores_train_mode():
    model = small_model()
    model.train()
    prompt = torch.randint(0, SMALL.vocab_size, (1, SMALL.context_length + 7))
    out = generate_greedy(model, prompt, max_new_tokens=3)  # longer than the context: no error
    assert model.training
    cropped = generate_greedy(model, prompt[:, -SMALL.context_length:], max_new_tokens=3)
    assert torch.equal(out[:, -3:], cropped[:, -3:])
    short = generate_greedy(model, prompt, max_new_tokens=3, context_length=4)
    assert torch.equal(short[:, -3:], generate_greedy(model, prompt[:, -4:], 3, context_length=4)[:, -3:])


def test_generate_greedy_stops_at_eos():
    model = small_model()
    prompt = torch.randint(0, SMALL.vocab_size, (1, 4))
    free = generate_greedy(model, prompt, max_new_tokens=8)
    eos = free[0, 4 + 1].item()  # the second generated token
    first = (free[0, 4:] == eos).nonzero()[0].item()  # it may also come first
    stopped = generate_greedy(model, prompt, max_new_tokens=8, eos_id=eos)
    assert stopped.shape[1] == 4 + first + 1
    assert stopped[0, -1].item() == eos
    assert torch.equal(stopped, free[:, : stopped.shape[1]])


def test_generate_greedy_pads_finished_rows_with_eos():
    model = small_model()
    prompts = torch.randint(0, SMALL.vocab_size, (2, 4))
    free = generate_greedy(model, prompts, max_new_tokens=6)
    eos = free[0, 4].item()  # row 0 finishes on its first new token
    out = generate_greedy(model, prompts, max_new_tokens=6, eos_id=eos)
    assert torch.all(out[0, 4:] == eos)
    row1 = free[1, 4:]
    if (row1 == eos).any():  # row 1 runs until it produces eos itself
        assert out.shape[1] == 4 + (row1 == eos).nonzero()[0].item() + 1
    else:
        assert torch.equal(out[1], free[1])


# --------------------------------------------------------------------------------------------------
# The copy head (section 14)


def test_copy_head_returns_causal_log_probabilities():
    model = small_model(copy_head=True, pos_encoding="rope")
    ids = torch.randint(0, SMALL.vocab_size, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logp = model(ids)
        later = ids.clone()
        later[:, 12:] = (later[:, 12:] + 1) % SMALL.vocab_size
        again = model(later)
    assert logp.shape == (3, 20, SMALL.vocab_size)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 20), atol=1e-5)  # log-probabilities, not logits
    assert torch.allclose(again[:, :12], logp[:, :12]) and not torch.allclose(again[:, 12:], logp[:, 12:])
    assert torch.allclose(F.log_softmax(logp, dim=-1), logp, atol=1e-5)  # so cross-entropy reads them as logits
    n_head = sum(p.numel() for p in model.copy_head.parameters())
    assert n_head == 2 * SMALL.emb_dim * COPY_HEAD_DIM + SMALL.emb_dim + 1
    assert model.num_parameters() == small_model(pos_encoding="rope").num_parameters() + n_head


def test_copy_head_copies_only_tokens_it_has_seen():
    model = small_model(copy_head=True)
    with torch.no_grad():  # gate -> 0: every token is copied, none generated
        model.copy_head.gate.weight.zero_()
        model.copy_head.gate.bias.fill_(-60.0)
        ids = torch.tensor([[5, 9, 9, 17, 5, 30]])
        probs = model(ids).exp()[0]  # (tokens, vocab)
    for t in range(ids.shape[1]):
        seen = set(ids[0, : t + 1].tolist())  # a position may copy itself and the earlier ones
        assert probs[t, sorted(seen)].sum() == pytest.approx(1.0, abs=1e-5)
        others = [i for i in range(SMALL.vocab_size) if i not in seen]
        assert probs[t, others].max() < 1e-6


def test_copy_head_attention_points_at_the_token_to_copy():
    """Queries and keys that match one earlier position put the copy distribution on that position's token: the
    mechanism that lets the model repeat a span (how much faster it learns is benchmarks/bench_copy_head.py)."""
    head = CopyHead(emb_dim=8, head_dim=8)
    with torch.no_grad():
        head.query.weight.copy_(torch.eye(8) * 20.0)
        head.key.weight.copy_(torch.eye(8) * 20.0)
        head.gate.weight.zero_()
        head.gate.bias.fill_(-60.0)  # copy only
    memory = torch.eye(8)[None, :5]  # five positions with orthogonal states
    memory_ids = torch.tensor([[11, 3, 7, 3, 20]])
    hidden = memory[:, [2, 4, 0]]  # each query matches one position: 2, 4 and 0
    visible = torch.ones(1, 3, 5, dtype=torch.bool)
    with torch.no_grad():
        probs = head(hidden, torch.zeros(1, 3, 32), memory, memory_ids, visible).exp()[0]
    assert probs.argmax(-1).tolist() == [7, 20, 11]
    assert probs.max(-1).values.min() > 0.99


def test_copy_head_gets_the_gradient_of_the_copy_loss():
    """One step on a repeated span lowers the loss on the repeat, and the copy head's query, key and gate all get a
    gradient from it: the head learns from the same loss as the rest of the model."""
    torch.manual_seed(0)
    m = GPTModel(GPTConfig(vocab_size=64, context_length=64, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0,
                           pos_encoding="rope", copy_head=True))
    g = torch.Generator().manual_seed(1)
    span = torch.randint(0, 64, (16, 12), generator=g)
    seq = torch.cat([torch.randint(0, 64, (16, 8), generator=g), span, span], dim=1)

    def repeat_loss() -> torch.Tensor:
        return F.cross_entropy(m(seq[:, :-1])[:, 19:].flatten(0, 1), seq[:, 20:].flatten())

    before = repeat_loss()
    before.backward()
    for name in ("query", "key", "gate"):
        assert getattr(m.copy_head, name).weight.grad.abs().sum() > 0, name
    with torch.no_grad():
        for p in m.parameters():
            p -= 0.05 * p.grad
    assert repeat_loss().item() < before.item()


def test_cached_attention_is_chapter_2s_layer_on_a_plain_call_and_with_a_cache():
    torch.manual_seed(0)
    plain = MultiHeadAttention(16, 16, 32, 0.0, 4).eval()
    cached = CachedMultiHeadAttention(16, 16, 32, 0.0, 4).eval()
    cached.load_state_dict(plain.state_dict())  # the same parameters
    x = torch.randn(2, 7, 16)  # (batch, tokens, d_in)
    with torch.no_grad():
        assert torch.equal(cached(x), plain(x))
        cache = KVCache()
        first = cached(x[:, :4], cache=cache)
        rest = cached(x[:, 4:], cache=cache)  # three new tokens after four cached: causal among them by default
    assert cache.length() == 7 and cache.keys[0].shape == (2, 4, 7, 4)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), plain(x).detach(), rtol=0, atol=1e-6)


# what only model.py may do: walk the blocks, reach into an attention layer, or call the attention maths itself
_WALKS_THE_MODEL = re.compile(
    r"\.(blocks|trf_blocks)\b"  # the list of blocks
    r"|\.att\.(qkv|out_proj|num_heads|head_dim|d_out|encode_positions)\b"  # an attention layer's inside
    r"|\b(block|blk)\.(att|norm1|norm2|ff|drop_resid)\b"  # a block's inside
    r"|\b(apply_rope|fused_attention|split_heads|merge_heads)\("  # attention computed by hand
)


def _library_lines(skip: set[str]) -> list[tuple[str, int, str]]:
    root = Path(__file__).resolve().parents[1] / "t2sql_lib"
    return [(str(path.relative_to(root)), n, line) for path in sorted(root.rglob("*.py")) if path.name not in skip
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]


def test_only_model_py_walks_the_blocks_and_their_attention():
    """One forward pass: every caller goes through ``GPTModel.forward`` (its ``KVCache``, positions and mask), so a
    change to the blocks is made in ``model.py`` alone."""
    offending = [f"{name}:{n}: {line.strip()}" for name, n, line in _library_lines({"model.py", "attention.py"})
                 if _WALKS_THE_MODEL.search(line)]
    assert offending == []
    # the pattern does see what it forbids: model.py itself walks its blocks and rotates by hand
    assert any(_WALKS_THE_MODEL.search(line) for name, _, line in _library_lines(set()) if name == "model.py")
