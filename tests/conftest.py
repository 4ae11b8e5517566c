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
