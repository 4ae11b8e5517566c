"""``t2sql adapt`` measured on human questions the generator never saw: Spider dev, database by database.

Run: ``.venv/bin/python benchmarks/bench_adapt.py [--dbs concert_singer,pets_1] [--steps 400] [--model weights/demo]``

For each Spider dev database (from ``../shared`` or ``$T2SQL_SPIDER_DIR``):
1. the course model (``--model``) scores the database's human dev questions, greedy and with the default decoder;
2. ``adapt.adapt_model`` teaches it the database on synthesized pairs only (no Spider question in training);
3. the adapted model scores the same human questions.
Both also score the held-out synthesized pairs (``adapt_report.json``), which shows the gap between the generator's
questions and people's. Prints one row per database, the totals by Spider hardness, and wall times.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import torch

from t2sql_lib.adapt import AdaptSettings, adapt_model
from t2sql_lib.evaluate import EvalReport
from t2sql_lib.generate import BEST_DECODING
from t2sql_lib.model_folder import load_model_folder
from t2sql_lib.paths import outputs_dir, spider_dir
from t2sql_lib.sft import evaluate_model
from t2sql_lib.spider import load_spider

DEFAULT_DBS = ("world_1", "car_1", "dog_kennels", "flight_2", "student_transcripts_tracking", "tvshow", "network_1",
               "concert_singer", "pets_1", "employee_hire_evaluation")
DECODERS = ("greedy", BEST_DECODING)


def score(model_dir: Path, questions: list) -> dict[str, EvalReport]:
    """The model folder's reports on ``questions``, one per decoder."""
    loaded = load_model_folder(model_dir)
    return {d: evaluate_model(loaded.model, loaded.tokenizer, questions, max_new_tokens=128, decoding=d)
            for d in DECODERS}


def reused(out: Path) -> SimpleNamespace:
    """The held-out scores an earlier run wrote (``adapt_report.json``); ValueError when there is none."""
    report_file = out / "adapt_report.json"
    if not report_file.is_file():
        raise ValueError(f"no earlier run in {out}")
    scores = json.loads(report_file.read_text())["held_out_execution_accuracy"]
    return SimpleNamespace(before=scores["before"], after=scores["after"])


def tally(totals: dict, reports: dict[str, EvalReport], which: str) -> None:
    """Add each report's right answers to ``totals[(which, decoder, hardness)]`` as (right, count)."""
    for decoder, report in reports.items():
        for record in report.records:
            for bucket in ("all", record.get("hardness") or "unknown"):
                right, count = totals[(which, decoder, bucket)]
                totals[(which, decoder, bucket)] = (right + bool(record["execution_accuracy"]), count + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbs", default=",".join(DEFAULT_DBS), help="Spider dev databases, comma-separated")
    parser.add_argument("--model", default="weights/demo", help="the course model folder (default: weights/demo)")
    parser.add_argument("--steps", type=int, default=AdaptSettings.steps)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true",
                        help="score the adapted folders an earlier run left under outputs/bench_adapt, without training")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = spider_dir()
    if root is None:
        raise SystemExit("no Spider folder ($T2SQL_SPIDER_DIR, data/raw/spider, ../shared/datasets/spider)")
    dev = load_spider(root, "dev")
    totals: dict = defaultdict(lambda: (0, 0))
    print(f"| database | questions | base greedy / {BEST_DECODING} | adapted greedy / {BEST_DECODING} | "
          f"held-out synthesized, base / adapted ({BEST_DECODING}) | wall |\n| --- | --- | --- | --- | --- | --- |")
    for db in args.dbs.split(","):
        start = time.perf_counter()
        questions = [ex for ex in dev if ex.db_id == db]
        db_path = root / "database" / db / f"{db}.sqlite"
        out = outputs_dir() / "bench_adapt" / db
        try:
            adapted = reused(out) if args.reuse else adapt_model(db_path, out, args.model,
                                                                  AdaptSettings(steps=args.steps, progress=False))
        except ValueError as err:  # a schema longer than the model's context
            print(f"| {db} | {len(questions)} | skipped: {err} | | | |", flush=True)
            continue
        base = score(Path(args.model), questions)
        after = score(out, questions)
        tally(totals, base, "base")
        tally(totals, after, "adapted")
        acc = {name: {d: r.summary()["all"]["execution_accuracy"] for d, r in reps.items()}
               for name, reps in (("base", base), ("adapted", after))}
        print(f"| {db} | {len(questions)} | {acc['base']['greedy']:.1%} / {acc['base'][BEST_DECODING]:.1%} | "
              f"{acc['adapted']['greedy']:.1%} / {acc['adapted'][BEST_DECODING]:.1%} | "
              f"{adapted.before[BEST_DECODING]:.1%} / {adapted.after[BEST_DECODING]:.1%} | "
              f"{time.perf_counter() - start:.0f} s |", flush=True)
    print("\n| hardness | questions | base greedy / best | adapted greedy / best |\n| --- | --- | --- | --- |")
    for bucket in ("all", "easy", "medium", "hard", "extra"):
        cells = [totals[(w, d, bucket)] for w in ("base", "adapted") for d in DECODERS]
        n = cells[0][1]
        if n:
            share = [f"{right}/{n} ({right / n:.1%})" for right, _ in cells]
            print(f"| {bucket} | {n} | {share[0]} / {share[1]} | {share[2]} / {share[3]} |")


if __name__ == "__main__":
    main()
