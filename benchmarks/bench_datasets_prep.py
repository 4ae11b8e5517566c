"""Tokenising supervised data: the course's loop (``sft.SFTDataset``) against Hugging Face ``datasets``' ``map``.

Run: ``.venv/bin/python benchmarks/bench_datasets_prep.py [--examples 56000] [--num-proc 2] [--threads 1]``

The same generated examples, the same tokenizer (the demo's BPE of 1,024 ids), the same ids:
1. ``SFTDataset``: encodes every prompt and SQL in a Python loop, in memory, each time it is built;
2. ``datasets``: ``to_dataset`` (the rows as Arrow columns), then ``Dataset.map`` in batches over ``--num-proc``
   processes, written to an Arrow cache file; a second ``map`` with the same fingerprint reads that file back.
It prints the wall time of each, the ratio to ``SFTDataset``, and checks that both give the same token ids.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from t2sql_lib.hf import to_dataset
from t2sql_lib.paths import outputs_dir
from t2sql_lib.sft import SFTDataset, build_tokenizer, fast_encoder
from t2sql_lib.synth import load_generated


def encode_rows(batch: dict[str, list[str]], encoder) -> dict[str, list[list[int]]]:
    """A batch of rows' prompt and target strings as token ids (what ``SFTDataset`` concatenates)."""
    return {"prompt_ids": encoder.encode_batch(batch["prompt"], allowed_special="all"),
            "target_ids": encoder.encode_batch(batch["target"], allowed_special="all")}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=56_000, help="generated examples, all splits (default 56,000)")
    parser.add_argument("--num-proc", type=int, default=2, help="processes for Dataset.map (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits = load_generated(n_examples=args.examples, seed=0)
    examples = [ex for split in ("train", "validation", "test") for ex in splits[split]]
    tokenizer = build_tokenizer("bpe", splits["train"], 1024, renamed=True, cache_dir=outputs_dir() / "cache")
    encoder = fast_encoder(tokenizer)
    print(f"{len(examples):,} examples, a BPE of {tokenizer.n_vocab} ids, Dataset.map on {args.num_proc} process(es)")

    sft, t_sft = timed(lambda: SFTDataset(examples, tokenizer, max_length=1 << 16, mask_prompt=True))
    rows, t_rows = timed(lambda: to_dataset(examples, with_prompt=True))
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "encoded.arrow")
        kwargs = dict(batched=True, batch_size=1000, fn_kwargs={"encoder": encoder}, cache_file_name=cache,
                      remove_columns=rows.column_names)
        cold, t_cold = timed(lambda: rows.map(encode_rows, num_proc=args.num_proc, **kwargs))
        warm, t_warm = timed(lambda: rows.map(encode_rows, num_proc=args.num_proc, load_from_cache_file=True,
                                              **kwargs))
        same = all(sft[i][0].tolist() == (r["prompt_ids"] + r["target_ids"])[:-1]
                   for i, r in zip(range(len(sft)), cold))
        same_warm = cold["target_ids"] == warm["target_ids"]

    print("\n| path | wall | ratio to SFTDataset |\n| --- | --- | --- |")
    print(f"| SFTDataset (a Python loop, in memory) | {t_sft:.2f} s | 1.00 |")
    print(f"| to_dataset (rows as Arrow columns, with prompt strings) | {t_rows:.2f} s | {t_rows / t_sft:.2f} |")
    print(f"| Dataset.map, first run (encode, write the cache) | {t_cold:.2f} s | {t_cold / t_sft:.2f} |")
    print(f"| to_dataset + first map | {t_rows + t_cold:.2f} s | {(t_rows + t_cold) / t_sft:.2f} |")
    print(f"| Dataset.map, second run (read the cache) | {t_warm:.2f} s | {t_warm / t_sft:.2f} |")
    print(f"\nsame token ids as SFTDataset: {same}; the cached run gives the same ids: {same_warm}")


if __name__ == "__main__":
    main()
