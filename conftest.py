"""Environment for every pytest run, unit tests and nbval notebooks alike (kernels inherit it).

Set before any kernel starts: the tiny preset, no Hub access, and tiktoken's
GPT-2 files from ../shared/tokenizers/tiktoken_cache when that folder exists and the variable is unset.
"""

from __future__ import annotations

import os

os.environ.setdefault("T2SQL_PRESET", "tiny")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONHASHSEED", "0")

from t2sql_lib.paths import use_offline_tiktoken_cache  # noqa: E402

use_offline_tiktoken_cache()
