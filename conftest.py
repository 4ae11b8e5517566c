"""Environment for every pytest run, unit tests and nbval notebooks alike (kernels inherit it).

Set before any kernel starts: the tiny preset, no Hub access, and tiktoken's
GPT-2 files from ../shared/tokenizers/tiktoken_cache when that folder exists and the variable is unset.

``T2SQL_NUMERICS=other`` (``make test-numerics``) runs the suite with the numerics another CPU would give: one
thread instead of the machine's count, and matrix kernels capped at AVX2 (no native bf16, no AVX-512), so that
floating-point sums round differently. Outputs and tests must pass both ways.
"""

from __future__ import annotations

import os

os.environ.setdefault("T2SQL_PRESET", "tiny")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONHASHSEED", "0")
if os.environ.get("T2SQL_NUMERICS") == "other":  # set before torch loads here or in a notebook kernel
    for name, value in (("OMP_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "1"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
                        ("ONEDNN_MAX_CPU_ISA", "AVX2")):
        os.environ[name] = value
    import torch

    torch.set_num_threads(1)  # in case a plugin loaded torch before this file
elif os.environ.get("T2SQL_NUMERICS", "default") != "default":
    raise ValueError(f"T2SQL_NUMERICS={os.environ['T2SQL_NUMERICS']!r}: expected 'default' or 'other'")

from t2sql_lib.paths import use_offline_tiktoken_cache  # noqa: E402

use_offline_tiktoken_cache()
