"""Fuzz the safe executor and the metrics with 10,000 grammar-generated hostile and malformed queries (issue 25).

Each case (``tests/fuzz_sql.py``: grammar queries and their mutations, deep nesting, huge literals and values,
writes, pragmas, ATTACH / VACUUM INTO, comments, NULs, bad UTF-8, random bytes, several statements, forbidden
and slow functions, endless queries) runs through ``execute_sql`` under a time limit, ``exact_match`` both ways
and Spider's exact set match; a share of them also goes through ``t2sql eval`` as prediction files. The run
prints the cases run, the exceptions that escaped (should be 0), the files changed or created in the database's
folder, the Spider folder and the working folder (should be 0), and the worst ratio of wall time to the limit
among the queries that timed out (should be under 2).

    python benchmarks/bench_fuzz_executor.py                      # 10,000 cases, 0.5 s limit, 600 through eval
    python benchmarks/bench_fuzz_executor.py --cases 2000 --seed 3 --timeout 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_sql import (  # noqa: E402
    FuzzStats,
    Grammar,
    changed_files,
    eval_lines,
    make_db,
    make_spider_folder,
    run_cases,
    snapshot,
)

from t2sql_lib.cli import main as t2sql  # noqa: E402
from t2sql_lib.spider import load_spider_schemas  # noqa: E402

EVAL_CHUNK = 100  # questions in the Spider folder: one eval run scores this many predictions


def run_eval(lines: list[str], root: Path, out: Path, timeout_s: float) -> list[str]:
    """``t2sql eval`` on ``lines``, EVAL_CHUNK at a time; the failures (exit code and error), if any."""
    failures = []
    for k in range(0, len(lines), EVAL_CHUNK):
        predictions = out / f"pred{k}.sql"
        predictions.write_text("\n".join(lines[k:k + EVAL_CHUNK]) + "\n", encoding="utf-8")
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = t2sql(["eval", "--root", str(root), "--split", "dev", "--predictions", str(predictions),
                              "--output", str(out / f"report{k}.json"), "--timeout", f"{timeout_s:g}"])
        except Exception as err:  # noqa: BLE001 - counted, not raised
            failures.append(f"eval chunk {k}: {type(err).__name__}: {err}")
            continue
        if code != 0:
            failures.append(f"eval chunk {k}: exit {code}: {stderr.getvalue().strip()[-300:]}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases through execute_sql and the matches")
    parser.add_argument("--eval-cases", type=int, default=600, help="cases also scored by t2sql eval")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--timeout", type=float, default=0.5, help="seconds allowed per query (default: 0.5)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        folders = {name: Path(tmp) / name for name in ("db", "scratch", "spider", "out")}
        for folder in folders.values():
            folder.mkdir()
        db = make_db(folders["db"] / "music.sqlite")
        root = make_spider_folder(folders["spider"] / "root", n_questions=EVAL_CHUNK)
        schema = load_spider_schemas(root)["music"]
        watched = [folders["db"], folders["scratch"], folders["spider"]]
        before = snapshot(watched)
        here = os.getcwd()
        os.chdir(folders["scratch"])  # an ATTACH of a relative file name would land here
        try:
            grammar = Grammar(args.seed, folders["scratch"])
            cases = [grammar.case() for _ in range(args.cases)]
            stats = FuzzStats()
            start = time.perf_counter()
            run_cases(db, cases, args.timeout, stats, spider_schema=schema)
            fuzz_s = time.perf_counter() - start
            start = time.perf_counter()
            stats.exceptions += run_eval(eval_lines(cases[: args.eval_cases]), root, folders["out"], args.timeout)
            eval_s = time.perf_counter() - start
        finally:
            os.chdir(here)
        stats.files_changed = changed_files(before, snapshot(watched))

    families = ", ".join(f"{name} {n}" for name, n in sorted(stats.by_family.items()))
    print(f"seed {args.seed}, limit {args.timeout:g} s; {fuzz_s:.1f} s for the cases, {eval_s:.1f} s for "
          f"{min(args.eval_cases, args.cases)} through t2sql eval")
    print(f"families: {families}")
    print(stats.summary())
    for line in stats.exceptions[:10] + stats.files_changed[:10]:
        print("  " + line.splitlines()[0] if line else "", file=sys.stderr)
    ok = not stats.exceptions and not stats.files_changed and stats.worst_ratio < 2.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
