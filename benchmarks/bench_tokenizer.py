"""BPE training time on ~2 MB of text, and encoding throughput: Python encoder vs tiktoken bridge vs GPT-2.

The corpus is the generated dataset's prompts (schema, question, SQL), with Spider's when a copy is found
(``t2sql_lib.paths.spider_dir()``), cut to ``--mb`` megabytes. Every encoder runs on the same text in the same
run, interleaved over ``--repeats`` rounds, and the median throughput is printed with ratios. Example::

    python benchmarks/bench_tokenizer.py                      # 2 MB, vocab 4096
    python benchmarks/bench_tokenizer.py --mb 8 --vocab-size 16384
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import tiktoken

from t2sql_lib.paths import spider_dir, use_offline_tiktoken_cache
from t2sql_lib.prompts import build_example_text
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import BPETokenizer, encode_piece, pretokenize


def build_corpus(megabytes: float, use_spider: bool = True) -> tuple[list[str], str]:
    """Prompt texts (generated, then Spider interleaved when present) until ``megabytes`` of UTF-8; and a label."""
    generated = [build_example_text(e) for split in load_generated(n_examples=20_000, seed=0).values() for e in split]
    sources = [generated]
    label = "generated"
    if use_spider and spider_dir() is not None:
        from t2sql_lib.spider import load_spider

        sources.append([build_example_text(e) for e in load_spider(spider_dir(), "train", hardness=False)])
        label += " + Spider"
    texts: list[str] = []
    size, budget = 0, int(megabytes * 1_000_000)
    for i in range(max(map(len, sources))):  # round robin, so the corpus mixes both sources
        for source in sources:
            if i < len(source) and size < budget:
                texts.append(source[i])
                size += len(source[i].encode("utf-8"))
    if size < budget:
        raise SystemExit(f"only {size:,} bytes of text available, asked for {budget:,}")
    return texts, label


def encode_uncached(tok: BPETokenizer, text: str) -> list[int]:
    """The Python algorithm without the piece cache: every piece merged from its bytes (no special tokens)."""
    ids: list[int] = []
    for piece in pretokenize(text, tok.pattern):
        ids.extend(encode_piece(list(piece.encode("utf-8")), tok.ranks))
    return ids


def throughput(encoders: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median tokens per second of each encoder; rounds interleave the encoders so noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in encoders}
    tokens: dict[str, int] = {}
    for _ in range(repeats):
        for name, run in encoders.items():
            start = time.perf_counter()
            tokens[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: tokens[name] / statistics.median(times[name]) for name in encoders}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="megabytes of text to train and encode")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-spider", action="store_true", help="generated text only, even when Spider is present")
    args = parser.parse_args(argv)
    use_offline_tiktoken_cache()

    texts, label = build_corpus(args.mb, use_spider=not args.no_spider)
    text = "".join(texts)
    n_bytes = len(text.encode("utf-8"))
    print(f"corpus: {len(texts):,} prompts ({label}), {n_bytes / 1e6:.2f} MB, cpu threads: {os.cpu_count()}")

    start = time.perf_counter()
    tok = BPETokenizer.train(texts, vocab_size=args.vocab_size)
    train_s = time.perf_counter() - start
    print(f"BPE training: {train_s:.2f} s for {len(tok.merges):,} merges (vocab {tok.n_vocab:,}), "
          f"{n_bytes / 1e6 / train_s:.2f} MB/s")

    bridge = tok.to_tiktoken()
    gpt2 = tiktoken.get_encoding("gpt2")
    reference = tok.encode(text)
    assert bridge.encode(text, allowed_special="all") == reference, "the tiktoken bridge disagrees with Python"

    def python_fresh() -> int:
        return len(BPETokenizer(tok.merges, tok.special_tokens, tok.pattern).encode(text))  # cold piece cache

    encoders = {
        "python, no piece cache": lambda: len(encode_uncached(tok, text)),
        "python (BPETokenizer.encode)": python_fresh,
        "tiktoken bridge, 1 thread": lambda: len(bridge.encode(text, allowed_special="all")),
        "tiktoken bridge, encode_batch": lambda: sum(map(len, bridge.encode_batch(texts, allowed_special="all"))),
        "tiktoken gpt2, 1 thread": lambda: len(gpt2.encode(text, allowed_special="all")),
        "tiktoken gpt2, encode_batch": lambda: sum(map(len, gpt2.encode_batch(texts, allowed_special="all"))),
    }
    speeds = throughput(encoders, args.repeats)
    base = speeds["python (BPETokenizer.encode)"]
    print(f"\n{'encoder':32} {'tokens/s':>12} {'vs python':>10}")
    for name, speed in speeds.items():
        print(f"{name:32} {speed:>12,.0f} {speed / base:>9.2f}x")
    n_gpt2 = len(gpt2.encode(text, allowed_special="all"))
    print(f"\ntokens for this text: ours {len(reference):,}, gpt2 {n_gpt2:,} (ours / gpt2 = {len(reference) / n_gpt2:.3f}; "
          "in-sample: ours was trained on this very text)")


if __name__ == "__main__":
    main()
