"""Chapter 1's language-modelling data (t2sql_lib.lm_data): token streams, sliding windows, data loaders."""

from __future__ import annotations

import pytest
import torch

from t2sql_lib.lm_data import SlidingWindowDataset, create_lm_dataloader, tokenize_texts
from t2sql_lib.tokenizer import BPETokenizer


@pytest.mark.parametrize("n, context_length, stride", [(100, 8, 8), (100, 8, 1), (100, 8, 3), (9, 8, 4), (57, 10, 20)])
def test_window_count_and_shift(n, context_length, stride):
    ids = torch.arange(n) * 3
    ds = SlidingWindowDataset(ids, context_length, stride)
    expected = [s for s in range(0, n - context_length) if s % stride == 0]
    assert len(ds) == len(expected)
    for i, start in enumerate(expected):
        x, y = ds[i]
        assert x.shape == y.shape == (context_length,)
        assert x.dtype == y.dtype == torch.long
        assert torch.equal(x, ids[start : start + context_length])
        assert torch.equal(y, ids[start + 1 : start + context_length + 1])  # target = input shifted by one
    assert torch.equal(ds[-1][0], ds[len(ds) - 1][0])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_every_token_is_a_target_once_without_overlap():
    ids = torch.arange(1, 101)
    ds = SlidingWindowDataset(ids, context_length=9)  # stride defaults to context_length
    targets = torch.cat([ds[i][1] for i in range(len(ds))])
    assert torch.equal(targets, ids[1 : 1 + len(targets)])
    assert len(targets) == 99 - 99 % 9


def test_accepts_lists():
    ds = SlidingWindowDataset(list(range(20)), context_length=4, stride=2)
    assert ds[1][0].tolist() == [2, 3, 4, 5] and ds[1][1].tolist() == [3, 4, 5, 6]


@pytest.mark.parametrize("kwargs, message", [
    ({"token_ids": torch.zeros(2, 10), "context_length": 4}, "one flat sequence"),
    ({"token_ids": torch.arange(10), "context_length": 0}, "at least 1"),
    ({"token_ids": torch.arange(10), "context_length": 4, "stride": 0}, "at least 1"),
    ({"token_ids": torch.arange(8), "context_length": 8}, "too few for one window"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SlidingWindowDataset(**kwargs)


def test_dataloader_shapes_and_seeded_shuffle():
    ids = torch.arange(1000)
    loader = create_lm_dataloader(ids, context_length=16, stride=8, batch_size=4, seed=1)
    batches = list(loader)
    assert len(batches) == len(loader.dataset) // 4
    for x, y in batches:
        assert x.shape == y.shape == (4, 16)
        assert torch.equal(x + 1, y)  # ids are consecutive, so the shift shows as +1
    again = [x for x, _ in create_lm_dataloader(ids, context_length=16, stride=8, batch_size=4, seed=1)]
    assert all(torch.equal(a, b[0]) for a, b in zip(again, batches))
    ordered = next(iter(create_lm_dataloader(ids, context_length=16, batch_size=2, shuffle=False)))[0]
    assert ordered[:, 0].tolist() == [0, 16]


def test_dataloader_too_small_for_a_batch():
    with pytest.raises(ValueError, match="no full batch"):
        create_lm_dataloader(torch.arange(30), context_length=8, batch_size=8)
    loader = create_lm_dataloader(torch.arange(30), context_length=8, batch_size=8, drop_last=False)
    assert next(iter(loader))[0].shape == (3, 8)


def test_tokenize_texts_same_with_python_and_tiktoken():
    texts = ["SELECT a FROM t<|endoftext|>", "SELECT b FROM u WHERE b >= 2<|endoftext|>"] * 20
    tok = BPETokenizer.train(texts, vocab_size=300)
    slow, fast = tokenize_texts(texts, tok), tokenize_texts(texts, tok.to_tiktoken())
    assert slow.dtype == torch.long and slow.ndim == 1
    assert torch.equal(slow, fast)
    assert (slow == tok.eot_id).sum().item() == len(texts)
    plain = tokenize_texts(texts, tok.to_tiktoken(), allowed_special=set())
    assert tok.eot_id not in plain.tolist() and tok.decode(plain.tolist()) == "".join(texts)
