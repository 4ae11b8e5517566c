"""Chapter 3, section 5: rotary position embeddings (RoPE) in the GPT, its KV cache, and chapter 6's decoding of it."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from t2sql_lib.generate import generate
from t2sql_lib.gpt2_weights import load_gpt2_weights
from t2sql_lib.model import (
    CachedMultiHeadAttention,
    GPTConfig,
    GPTModel,
    KVCache,
    RotaryMultiHeadAttention,
    apply_rope,
    rope_cos_sin,
)

ROPE = GPTConfig(vocab_size=97, context_length=40, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0,
                 pos_encoding="rope")


def rope_model(seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    model = GPTModel(ROPE).eval()
    with torch.no_grad():  # livelier than the 0.02 initialisation, so position effects show in the logits
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.3)
    return model


def test_rotation_by_hand_for_one_pair():
    # head_dim 2: one pair, turned by exactly `position` radians (inv_freq = base^0 = 1)
    x = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    out = apply_rope(x, torch.tensor([2]))
    assert torch.allclose(out.flatten(), torch.tensor([math.cos(2.0), math.sin(2.0)]), atol=1e-6)


def test_frequencies_fall_from_one_to_nearly_one_over_base():
    cos, sin = rope_cos_sin(torch.tensor([1]), head_dim=8, base=10000.0)
    angles = torch.atan2(sin, cos).flatten()
    assert torch.allclose(angles, torch.tensor([1.0, 0.1, 0.01, 0.001]), rtol=1e-4)


def test_position_zero_is_the_identity_and_lengths_are_kept():
    x = torch.randn(2, 3, 5, 16)
    assert torch.equal(apply_rope(x, torch.zeros(5, dtype=torch.long)), x)
    rotated = apply_rope(x, torch.arange(5))
    assert torch.allclose(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5)


def test_scores_depend_only_on_the_distance():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 32), torch.randn(1, 1, 1, 32)
    scores = [(apply_rope(q, torch.tensor([p])) * apply_rope(k, torch.tensor([p - 5]))).sum() for p in (5, 17, 300)]
    assert torch.allclose(torch.stack(scores), scores[0].expand(3), atol=1e-4)
    other = (apply_rope(q, torch.tensor([17])) * apply_rope(k, torch.tensor([16]))).sum()
    assert not torch.allclose(other, scores[0], atol=1e-3)


def test_per_row_positions_equal_shared_positions():
    x = torch.randn(2, 2, 4, 8)
    shared = apply_rope(x, torch.arange(4))
    per_row = apply_rope(x, torch.arange(4).expand(2, 4))
    assert torch.allclose(shared, per_row)


def test_odd_head_dim_is_refused():
    with pytest.raises(ValueError, match="head_dim=7"):
        rope_cos_sin(torch.arange(3), head_dim=7)


def test_config_chooses_the_attention_and_drops_the_position_table():
    learned = GPTModel(dataclasses.replace(ROPE, pos_encoding="learned"))
    rope = GPTModel(ROPE)
    assert type(learned.blocks[0].att) is CachedMultiHeadAttention and learned.pos_emb is not None
    assert isinstance(rope.blocks[0].att, RotaryMultiHeadAttention) and rope.pos_emb is None
    assert learned.num_parameters() - rope.num_parameters() == ROPE.context_length * ROPE.emb_dim
    assert learned.num_parameters(non_embedding=True) == rope.num_parameters(non_embedding=True)
    with pytest.raises(ValueError, match="pos_encoding='alibi'"):
        dataclasses.replace(ROPE, pos_encoding="alibi")


def test_rope_model_is_causal_and_shift_aware():
    model = rope_model()
    ids = torch.randint(0, ROPE.vocab_size, (1, 12))
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % ROPE.vocab_size
    assert torch.allclose(model(ids)[:, :8], model(changed)[:, :8], atol=1e-5)  # the future is not seen
    # Without a position table, the first token's logits cannot depend on where the sequence starts...
    # ...but the order of the tokens matters: swapping two earlier tokens changes the last logits.
    swapped = ids.clone()
    swapped[0, [2, 5]] = swapped[0, [5, 2]]
    assert ids[0, 2] == ids[0, 5] or not torch.allclose(model(ids)[:, -1], model(swapped)[:, -1], atol=1e-4)


def test_cached_forward_matches_the_full_forward():
    model = rope_model()
    ids = torch.randint(0, ROPE.vocab_size, (2, 10))
    full = model(ids)[:, -1]
    cache = KVCache()
    assert torch.allclose(full, model(ids, torch.arange(10).expand(2, 10), last_only=True)[:, -1], atol=1e-4)
    model(ids[:, :9], cache=cache)
    step = model(ids[:, 9:], torch.full((2, 1), 9), cache=cache)[:, -1]  # explicit positions, one per row
    assert torch.allclose(full, step, atol=1e-4)
    other = KVCache()
    model(ids[:, :9], cache=other)
    elsewhere = model(ids[:, 9:], torch.full((2, 1), 3), cache=other)[:, -1]  # the same token said to sit at 3
    assert not torch.allclose(full, elsewhere, atol=1e-4)


@pytest.mark.parametrize("use_cache", [True, False])
def test_batched_left_padded_generation_equals_one_by_one(use_cache):
    model = rope_model()
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]]
    together = generate(model, prompts, max_new_tokens=6, use_cache=use_cache)
    alone = [generate(model, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone


def test_gpt2_weights_need_the_learned_table(tmp_path):
    model = GPTModel(dataclasses.replace(ROPE, qkv_bias=True))
    with pytest.raises(ValueError, match="pos_encoding='learned'"):
        load_gpt2_weights(model, tmp_path / "missing.safetensors")
