"""Time to evaluate every Spider dev question that has a database, gold SQL against itself.

Issue 3's target: all 1,034 dev questions (972 with a database) in under 30 s on 2 cores. Three runs:

1. ``evaluate`` with the gold queries as predictions, parse caches emptied first;
2. the same with each prediction's whitespace collapsed and a ``;`` added, so no prediction shares its
   text (or its cached sqlglot parse) with the gold query, as a model's output would not;
3. for scale, the bare cost of running each gold query twice with plain ``sqlite3`` (no parsing, no
   authorizer, no time limit, no comparison); the ratio says what safety and metrics cost.

    python benchmarks/bench_spider_eval.py                  # the Spider folder paths.spider_dir() finds
    python benchmarks/bench_spider_eval.py --root /path/to/spider
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time

from t2sql_lib import evaluate as evaluate_mod
from t2sql_lib import sql as sqlmod
from t2sql_lib.evaluate import evaluate
from t2sql_lib.spider import load_spider


def clear_caches() -> None:
    """Empty the sqlglot parse, normalisation and Spider gold caches, so a run starts cold."""
    sqlmod._parse_statements.cache_clear()
    sqlmod.normalize_sql.cache_clear()
    evaluate_mod._spider_gold.cache_clear()


def bare_sqlite(examples) -> float:
    """Seconds to run every gold query twice with plain sqlite3, fetching all rows."""
    start = time.perf_counter()
    for ex in examples:
        for _ in range(2):
            con = sqlite3.connect(f"file:{ex.db_path}?mode=ro", uri=True)
            con.text_factory = lambda b: b.decode("utf-8", errors="replace")
            con.execute(ex.sql).fetchall()
            con.close()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="Spider folder (default: found automatically)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    examples = load_spider(args.root, "dev")
    load_s = time.perf_counter() - start
    n = len(examples)
    print(f"Spider dev: {examples.total} questions, {n} with a database ({examples.n_skipped} skipped); "
          f"loaded with hardness in {load_s:.2f} s")

    runs = {
        "gold as predictions": [ex.sql for ex in examples],
        "gold, reformatted": [" ".join(ex.sql.split()) + ";" for ex in examples],
    }
    times = {}
    for name, predictions in runs.items():
        clear_caches()
        start = time.perf_counter()
        report = evaluate(examples, predictions)
        times[name] = elapsed = time.perf_counter() - start
        c = report.counts()
        print(f"{name:<28} {elapsed:6.2f} s total, {1000 * elapsed / n:6.2f} ms per question; "
              f"execution matches {c['execution_match']}/{n}, exact set matches {c['exact_match']}/{n}")
        if c["execution_match"] != n:
            print("  gold against itself should match everywhere", file=sys.stderr)
            return 1

    bare = bare_sqlite(examples)
    print(f"{'bare sqlite3 (2 runs each)':<28} {bare:6.2f} s total, {1000 * bare / n:6.2f} ms per question")
    worst = max(times.values())
    print(f"evaluate / bare sqlite3: {worst / bare:.1f}x; target < 30 s: {'met' if worst < 30 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
