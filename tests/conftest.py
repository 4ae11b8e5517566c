"""Fixtures for the unit tests; the environment itself is set in the root conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from t2sql_lib.paths import shared_dir, spider_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    """The project root."""
    return ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder beside the checkout; tests that need it skip, saying so, when it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared is not beside this checkout (set T2SQL_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def spider() -> Path:
    """The local Spider folder (from ../shared/datasets/spider); skips when absent."""
    path = spider_dir()
    if path is None:
        pytest.skip("no Spider folder: looked for $T2SQL_SPIDER_DIR, data/raw/spider, ../shared/datasets/spider")
    return path


@pytest.fixture(scope="session")
def gpt2_encoding():
    """tiktoken's GPT-2 encoding from the offline cache; skips when the BPE files are not available."""
    import tiktoken

    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        pytest.skip("TIKTOKEN_CACHE_DIR unset and ../shared/tokenizers/tiktoken_cache absent")
    return tiktoken.get_encoding("gpt2")


@pytest.fixture(scope="module")
def splits():
    """A small generated dataset (200 questions, seed 0) split by database; one per test module."""
    from t2sql_lib.synth import load_generated

    return load_generated(n_examples=200, seed=0)


@pytest.fixture(scope="module")
def tokenizer(splits):
    """A 400-id BPE trained on ``splits``' training text (prompts and SQL)."""
    from t2sql_lib.prompts import build_example_text
    from t2sql_lib.tokenizer import BPETokenizer

    return BPETokenizer.train([build_example_text(e) for e in splits["train"]], vocab_size=400)


def _lively_model(vocab: int = 40, context: int = 48, seed: int = 0, **changes):
    """A random 2-block GPT with large weights, so that greedy outputs vary from token to token (a default
    initialisation repeats one token); ``changes`` are other ``GPTConfig`` fields (``copy_head=True``...)."""
    import torch

    from t2sql_lib.model import GPTConfig, GPTModel

    torch.manual_seed(seed)
    model = GPTModel(GPTConfig(vocab_size=vocab, context_length=context, emb_dim=32, n_heads=4, n_layers=2,
                               drop_rate=0.0, **changes))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture(scope="session")
def lively_model():
    """The factory ``lively_model(vocab=40, context=48, seed=0, **config_changes)`` of random GPTs whose greedy
    output varies."""
    return _lively_model
