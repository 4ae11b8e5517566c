"""``t2sql adapt``: questions and SQL for a user's own SQLite database, drawn by the generator's patterns.

    t2sql adapt --db shop.sqlite --synthesize-only --out outputs/adapt_shop

reads the file (read-only) into a description (``synth.from_database``), draws question/SQL pairs from it
with the generator's patterns (``synth.build.generate_for_database``) and keeps only the pairs whose SQL
runs on the file and returns exactly the rows the pattern computed. It writes ``pairs.jsonl`` (one
question, SQL and pattern a line) and ``summary.json`` (the roles read, the keys, the patterns used,
the count and a sample). Training on those pairs is the second half of the command and is not built yet.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import Example
from .sql import connect_read_only
from .synth.build import generate_for_database
from .synth.from_database import DatabaseDescription, describe_database
from .synth.patterns import Draft

DEFAULT_PAIRS = 1000
QUERY_SECONDS = 2.0  # a gold query slower than this on the user's database is dropped


def _sort_key(row: tuple) -> tuple:
    """Rows sort alike whatever they hold: numbers (rounded for the key only), text, then NULLs and blobs."""
    return tuple((0, round(v, 6), "") if isinstance(v, (int, float)) else (1, 0, v) if isinstance(v, str)
                 else (2, 0, repr(v)) for v in row)


def _rounded(row: tuple) -> tuple:
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def _close(a: tuple, b: tuple) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        numbers = isinstance(x, (int, float)) and isinstance(y, (int, float))
        if numbers and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
            return False
        if not numbers and x != y:
            return False
    return True


def same_rows(got: list[tuple], expected: list[tuple], ordered: bool) -> bool:
    """True when two results hold the same rows (in the same order when ``ordered``), reals within rounding."""
    if len(got) != len(expected):
        return False
    if not ordered:
        if Counter(got) == Counter(expected) or Counter(map(_rounded, got)) == Counter(map(_rounded, expected)):
            return True
        got, expected = sorted(got, key=_sort_key), sorted(expected, key=_sort_key)
    return all(_close(a, b) for a, b in zip(got, expected))


@dataclass
class GoldCheck:
    """Runs each draft's SQL once on the database and accepts it when SQLite returns the pattern's answer."""

    path: Path
    tally: Counter = field(default_factory=Counter)  # why drafts were dropped ("sql error", "no rows", ...)
    _seen: dict[str, bool] = field(default_factory=dict)
    _con: sqlite3.Connection | None = None

    def __call__(self, draft: Draft) -> bool:
        if draft.sql not in self._seen:
            verdict = self._check(draft)
            self.tally[verdict] += 1
            self._seen[draft.sql] = verdict == "kept"
        return self._seen[draft.sql]

    def _check(self, draft: Draft) -> str:
        if self._con is None:
            self._con = connect_read_only(self.path)
        deadline = time.perf_counter() + QUERY_SECONDS
        self._con.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
        try:
            rows = [tuple(r) for r in self._con.execute(draft.sql).fetchall()]
        except (sqlite3.Error, ValueError, OverflowError):
            return "sql error or too slow"
        if not rows:
            return "no rows"
        return "kept" if same_rows(rows, draft.answer, draft.ordered) else "answer differs"

    def close(self) -> None:
        """Close the connection (it reopens on the next check)."""
        if self._con is not None:
            self._con.close()
            self._con = None


@dataclass
class Synthesis:
    """The pairs drawn for one database, its description and what the gold check dropped."""

    description: DatabaseDescription
    examples: list[Example]
    dropped: dict[str, int]
    seconds: float

    def summary(self, sample: int = 12) -> dict[str, Any]:
        """Patterns used, count, a sample, the roles, words, sampled values and keys read, and the drafts dropped."""
        domain = self.description.database.domain
        return {
            "db_id": domain.db_id,
            "pairs": len(self.examples),
            "seconds": round(self.seconds, 2),
            "patterns": dict(Counter(e.meta["pattern"] for e in self.examples).most_common()),
            "roles": self.description.roles(),
            "values": self.description.sample_values(),
            "words": {t.name: {"singular": t.singular, "plural": t.plural,
                               "columns": {c.name: c.words for c in t.columns}} for t in domain.tables},
            "foreign_keys": [{"table": r.table, "column": r.column, "ref_table": r.ref_table,
                              "declared": r.declared} for r in self.description.references],
            "tables_left_out": self.description.left_out,
            "dropped_drafts": self.dropped,
            "sample": [{"question": e.question, "sql": e.sql} for e in self.examples[:sample]],
        }


def synthesize_for_database(path: str | Path, n: int = DEFAULT_PAIRS, seed: int = 0) -> Synthesis:
    """Up to ``n`` distinct question/SQL pairs about the SQLite file ``path``, every gold query checked on it."""
    if n <= 0:
        raise ValueError(f"the number of pairs must be positive, got {n}")
    start = time.perf_counter()
    description = describe_database(path)
    check = GoldCheck(description.database.path)
    try:
        drawn = generate_for_database(description.database, n, seed, accept=check)
    finally:
        check.close()
    seen: set[tuple[str, str]] = set()
    examples = []
    for example, _ in drawn:  # once new questions run out the generator repeats some: keep each pair once
        if (example.question, example.sql) not in seen:
            seen.add((example.question, example.sql))
            examples.append(example)
    if not examples:
        raise ValueError(f"{path}: no question pattern fits this database (no usable columns)")
    dropped = {k: v for k, v in check.tally.items() if k != "kept"}
    return Synthesis(description, examples, dropped, time.perf_counter() - start)


def write_synthesis(synthesis: Synthesis, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``pairs.jsonl`` and ``summary.json`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    pairs = out / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"question": e.question, "sql": e.sql, "db_id": e.db_id,
                                         "pattern": e.meta["pattern"]}, ensure_ascii=False) + "\n"
                             for e in synthesis.examples), encoding="utf-8")
    summary = out / "summary.json"
    summary.write_text(json.dumps(synthesis.summary(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return pairs, summary


def run_adapt_command(args: argparse.Namespace) -> int:
    """``t2sql adapt``: with ``--synthesize-only``, write the pairs and their summary."""
    if not args.synthesize_only:
        raise ValueError("training on the synthesized pairs is not built yet: run with --synthesize-only")
    synthesis = synthesize_for_database(args.db, args.pairs, args.seed)
    pairs, summary = write_synthesis(synthesis, args.out)
    info = synthesis.summary(sample=5)
    print(f"{info['db_id']}: {info['pairs']} question/SQL pairs from {len(info['patterns'])} patterns "
          f"in {info['seconds']:.1f} s, every gold query checked on the database")
    for item in info["sample"]:
        print(f"  {item['question']}\n    {item['sql']}")
    print(f"wrote {pairs}\nwrote {summary}")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``adapt`` subcommand to the ``t2sql`` command line's subparsers."""
    p = subparsers.add_parser("adapt", help="question/SQL pairs for your own SQLite database (--synthesize-only)")
    p.add_argument("--db", required=True, metavar="FILE", help="the SQLite database (opened read-only)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for pairs.jsonl and summary.json")
    p.add_argument("--synthesize-only", action="store_true",
                   help="write the question/SQL pairs and a summary, without training (the only mode built)")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, metavar="N",
                   help=f"pairs to draw at most (default: {DEFAULT_PAIRS}; repeats are dropped)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws (default: 0)")
    p.set_defaults(func=run_adapt_command)
    return p
