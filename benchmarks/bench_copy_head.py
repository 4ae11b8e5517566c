"""The copy head (chapter 3, section 6) against the output layer alone on a short copy task, over several seeds.

The task: 8 random tokens, then 12 random tokens, then the same 12 again; the loss is on the repeat only. Two RoPE
models of one shape (2 layers x 32), with and without the copy head, start from the same seed, see the same
batches and train with the same AdamW settings. After ``--steps`` steps the script prints, per seed, the accuracy
on the repeat of the last batch for each model and their difference, then the mean, min and max of the
difference. A short training run diverges between CPUs and thread counts, which is why this is a benchmark and
not a unit test (the tests check the mechanism). Example::

    python benchmarks/bench_copy_head.py                      # 160 steps, seeds 0-4, torch's thread count
    python benchmarks/bench_copy_head.py --seeds 0,1 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from t2sql_lib.model import GPTConfig, GPTModel


def copy_accuracy(copy_head: bool, seed: int, steps: int) -> float:
    """Accuracy on the repeated span of the last training batch after ``steps`` AdamW steps."""
    torch.manual_seed(seed)
    model = GPTModel(GPTConfig(vocab_size=64, context_length=64, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0,
                               pos_encoding="rope", copy_head=copy_head))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        span = torch.randint(0, 64, (16, 12), generator=g)
        seq = torch.cat([torch.randint(0, 64, (16, 8), generator=g), span, span], dim=1)
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits[:, 19:].flatten(0, 1), seq[:, 20:].flatten())  # the repeat only
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (logits[:, 19:].argmax(-1) == seq[:, 20:]).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    parser.add_argument("--steps", type=int, default=160, help="training steps per model (default 160)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 keeps torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    print(f"{'seed':>4} {'plain':>7} {'copy head':>10} {'difference':>11}")
    gaps = []
    for seed in seeds:
        plain, with_copy = copy_accuracy(False, seed, args.steps), copy_accuracy(True, seed, args.steps)
        gaps.append(with_copy - plain)
        print(f"{seed:>4} {plain:>7.3f} {with_copy:>10.3f} {with_copy - plain:>+11.3f}")
    print(f"difference over {len(seeds)} seeds: mean {statistics.mean(gaps):+.3f}, min {min(gaps):+.3f}, "
          f"max {max(gaps):+.3f} ({args.steps} steps, {torch.get_num_threads()} threads, "
          f"{time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
