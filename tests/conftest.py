"""Test set-up shared by unit tests and the nbval notebook runs (kernels inherit this environment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Before any kernel starts: the tiny preset, a headless matplotlib, offline GPT-2 BPE files.
os.environ.setdefault("T2SQL_PRESET", "tiny")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from t2sql_lib.paths import shared_dir, spider_dir, use_offline_tiktoken_cache  # noqa: E402

use_offline_tiktoken_cache()


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
