"""Generation speed: the KV cache against recomputing the whole sequence, and tokens/s by batch size.

The model is the laptop preset's shape (``get_preset("laptop")``) with random weights: speed does not depend
on what the weights say. Every prompt is ``--prompt-len`` tokens and ``--new-tokens`` tokens are generated with
no end-of-text, so every run does the same work. Cached and uncached runs alternate, so that load from other
processes hits both alike; the median of ``--repeats`` runs is reported. Both give the same tokens (checked).
One CPU thread by default (``--threads``): on a shared machine, more threads fight over the cores and the
times swing by 10x.

    python benchmarks/bench_generate.py                      # 256 new tokens, batch sizes 1, 8, 32
    python benchmarks/bench_generate.py --new-tokens 64 --batch-sizes 1 4 --repeats 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from t2sql_lib.config import get_preset
from t2sql_lib.generate import generate
from t2sql_lib.model import GPTModel


def timed_generate(model, prompts, new_tokens: int, use_cache: bool) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    out = generate(model, prompts, max_new_tokens=new_tokens, batch_size=len(prompts), use_cache=use_cache)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uncached-batch-sizes", type=int, nargs="*", default=[1],
                        help="batch sizes also run without the cache (slow; default: 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: 1; the machine may be shared, and one thread gives steadier times)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    preset = get_preset(args.preset)
    cfg = dataclasses.replace(preset.model, drop_rate=0.0)
    if args.prompt_len + args.new_tokens > cfg.context_length:
        raise SystemExit(f"--prompt-len + --new-tokens must fit the context ({cfg.context_length})")
    torch.manual_seed(0)
    model = GPTModel(cfg).eval()
    print(f"preset {preset.name}: {cfg.n_layers} layers x {cfg.emb_dim} d_model, vocab {cfg.vocab_size}, "
          f"{model.num_parameters() / 1e6:.2f}M parameters, random weights; prompt {args.prompt_len} tokens, "
          f"{args.new_tokens} new tokens, {torch.get_num_threads()} CPU thread(s), median of {args.repeats}")
    g = torch.Generator().manual_seed(1)
    results = {}
    for batch in args.batch_sizes:
        prompts = torch.randint(0, cfg.vocab_size, (batch, args.prompt_len), generator=g).tolist()
        timed_generate(model, prompts[:1], 4, True)  # warm-up
        modes = (True, False) if batch in args.uncached_batch_sizes else (True,)
        times = {mode: [] for mode in modes}
        outputs = {}
        for _ in range(args.repeats):
            for mode in modes:  # alternate, so that background load hits both
                seconds, outputs[mode] = timed_generate(model, prompts, args.new_tokens, mode)
                times[mode].append(seconds)
        if len(modes) == 2 and outputs[True] != outputs[False]:
            raise SystemExit(f"batch {batch}: cached and uncached generation differ")
        for mode in modes:
            seconds = statistics.median(times[mode])
            results[(batch, mode)] = batch * args.new_tokens / seconds
            print(f"batch {batch:>3} {'KV cache   ' if mode else 'no cache   '}: {seconds:7.2f} s, "
                  f"{results[(batch, mode)]:9,.0f} new tokens/s")
    print()
    for batch in args.batch_sizes:
        if (batch, False) in results:
            ratio = results[(batch, True)] / results[(batch, False)]
            print(f"KV cache speed-up at batch {batch}, {args.new_tokens} new tokens: {ratio:.1f}x "
                  f"({'meets' if ratio >= 5 else 'MISSES'} the 5x target)")
    base = results[(args.batch_sizes[0], True)]
    for batch in args.batch_sizes[1:]:
        print(f"tokens/s at batch {batch} vs batch {args.batch_sizes[0]} (KV cache): "
              f"{results[(batch, True)] / base:.1f}x")


if __name__ == "__main__":
    main()
