"""How long the generated dataset takes: a cold build (databases + examples) and a cached load.

Run: ``.venv/bin/python benchmarks/bench_synth.py [--n 20000] [--repeats 3]``. Each cold run uses a
fresh temporary cache, so nothing is reused; the cached runs read what the last cold run wrote.
The issue asks for 20,000 examples in under 20 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter

from t2sql_lib.synth import DOMAINS, load_generated


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    """Print cold and cached generation times for ``--n`` examples."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="examples in total over all splits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print the number of examples of every pattern")
    args = parser.parse_args()

    cold, cached = [], []
    splits = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, splits = _timed(lambda tmp=tmp: load_generated(args.n, args.seed, cache_dir=tmp))
            cold.append(seconds)
            seconds, _ = _timed(lambda tmp=tmp: load_generated(args.n, args.seed, cache_dir=tmp))
            cached.append(seconds)

    sizes = {name: len(examples) for name, examples in splits.items()}
    per_pattern = Counter(e.meta["pattern"] for examples in splits.values() for e in examples)
    print(f"{args.n} examples over {len(DOMAINS)} databases, {len(per_pattern)} patterns; splits {sizes}")
    counts = sorted(per_pattern.values())
    print(f"examples per pattern: min {counts[0]}, median {statistics.median(counts):.0f}, max {counts[-1]}")
    if args.verbose:
        for name, count in sorted(per_pattern.items()):
            print(f"  {name:36s} {count:5d}")
    print(f"cold   (build databases + generate): median {statistics.median(cold):6.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in cold)})")
    print(f"cached (read databases + JSONL)    : median {statistics.median(cached):6.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in cached)})")
    print(f"cold / cached: {statistics.median(cold) / statistics.median(cached):.1f}x; "
          f"target: cold under 20 s -> {'ok' if statistics.median(cold) < 20 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
