"""Spider's official metrics against the normalised-string match, on altered copies of Spider dev's gold SQL.

Each dev question with a database gets one prediction per alteration that applies to its gold query:

* ``unchanged``: the gold query itself;
* ``distinct``: ``SELECT DISTINCT`` where the gold query selects without it;
* ``sort_flipped``: every direction of the outermost ORDER BY reversed (ASC <-> DESC);
* ``lowercased``: the whole text lower-cased, string values included;
* ``other_gold``: the gold query of another question on the same database;
* ``aliases_renamed``: every table alias renamed (``T1`` -> ``alias_1``).

Each is scored with the exact set match (``t2sql_lib.spider_match``), the normalised-string match, and execution
accuracy three ways: the official rules (DISTINCT removed), the official rules with ``keep_distinct``, and the
rules of generated data (DISTINCT kept, columns in order, order only for a top-level ORDER BY). Where the
published definition decides the exact-set-match verdict from the alteration alone (the same query for
``unchanged``, ``distinct``, ``lowercased`` and ``aliases_renamed``; another sort order for ``sort_flipped``), the
table counts how often the metric gives it. The mixed prediction file (one line per question, alterations in
turn) is written for ``t2sql eval``.

    python benchmarks/bench_spider_metrics.py                  # the Spider folder paths.spider_dir() finds
    python benchmarks/bench_spider_metrics.py --root /path/to/spider --out outputs/spider_altered.sql
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlglot import exp

from t2sql_lib.evaluate import evaluate, execution_match
from t2sql_lib.paths import outputs_dir
from t2sql_lib.spider import load_spider
from t2sql_lib.spider_match import mismatched_components
from t2sql_lib.sql import DIALECT, SQLError, parse_sql

# Verdict of the exact set match that the published definition fixes for each alteration (None: depends).
EXPECTED_EXACT = {"unchanged": True, "distinct": True, "sort_flipped": False, "lowercased": True,
                  "other_gold": None, "aliases_renamed": True}


def add_distinct(sql: str) -> str | None:
    """``SELECT DISTINCT`` for the outermost SELECT, when it has none."""
    if re.match(r"\s*select\s+distinct\b", sql, flags=re.IGNORECASE):
        return None
    altered = re.sub(r"^\s*select\b", "SELECT DISTINCT", sql, count=1, flags=re.IGNORECASE)
    return altered if altered != sql else None


def flip_sort(sql: str) -> str | None:
    """Every sort key of the outermost ORDER BY in the other direction (None without one)."""
    tree = parse_sql(sql)
    order = tree.args.get("order")
    if order is None:
        return None
    for item in order.expressions:
        if isinstance(item, exp.Ordered):
            item.set("desc", not item.args.get("desc"))
            item.set("nulls_first", None)
    return tree.sql(dialect=DIALECT)


def rename_aliases(sql: str) -> str | None:
    """Table aliases renamed everywhere they are used (None when the query has none)."""
    tree = parse_sql(sql)
    aliases = {t.alias.lower() for t in tree.find_all(exp.Table) if t.alias}
    if not aliases:
        return None
    new_names = {a: f"alias_{i}" for i, a in enumerate(sorted(aliases), start=1)}
    for table in tree.find_all(exp.Table):
        if table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(new_names[table.alias.lower()])))
    for col in tree.find_all(exp.Column):
        if col.table and col.table.lower() in new_names:
            col.set("table", exp.to_identifier(new_names[col.table.lower()]))
    return tree.sql(dialect=DIALECT)


def other_gold(examples) -> Callable[[int], str | None]:
    """The gold query of the next question on the same database whose text differs."""
    by_db: dict[str, list[int]] = {}
    for k, ex in enumerate(examples):
        by_db.setdefault(ex.db_id, []).append(k)

    def pick(k: int) -> str | None:
        group = by_db[examples[k].db_id]
        start = group.index(k)
        for j in group[start + 1:] + group[:start]:
            if " ".join(examples[j].sql.lower().split()) != " ".join(examples[k].sql.lower().split()):
                return examples[j].sql
        return None

    return pick


def altered_predictions(examples) -> dict[str, list[tuple[int, str]]]:
    """Per alteration, (question position, prediction) for every question it applies to."""
    pick_other = other_gold(examples)
    makers: dict[str, Callable[[int], str | None]] = {
        "unchanged": lambda k: examples[k].sql,
        "distinct": lambda k: add_distinct(examples[k].sql),
        "sort_flipped": lambda k: flip_sort(examples[k].sql),
        "lowercased": lambda k: examples[k].sql.lower(),
        "other_gold": pick_other,
        "aliases_renamed": lambda k: rename_aliases(examples[k].sql),
    }
    out: dict[str, list[tuple[int, str]]] = {}
    for kind, make in makers.items():
        pairs = []
        for k in range(len(examples)):
            try:
                altered = make(k)
            except SQLError:
                altered = None
            if altered is not None:
                pairs.append((k, altered))
        out[kind] = pairs
    return out


def score_kind(examples, pairs: list[tuple[int, str]]) -> dict[str, int]:
    """Counts for one alteration: matches by each metric, and where the two match metrics disagree."""
    subset = [examples[k] for k, _ in pairs]
    preds = [p for _, p in pairs]
    official = evaluate(subset, preds).records
    kept = evaluate(subset, preds, keep_distinct=True).records
    course = [execution_match(ex.db_path, p, ex.sql) for ex, p in zip(subset, preds)]
    exact = [r["exact_match"] for r in official]
    string = [r["string_match"] for r in official]
    return {
        "n": len(pairs),
        "exact_set": sum(exact),
        "string": sum(string),
        "set_only": sum(e and not s for e, s in zip(exact, string)),
        "string_only": sum(s and not e for e, s in zip(exact, string)),
        "exec_official": sum(r["execution_accuracy"] for r in official),
        "exec_keep_distinct": sum(r["execution_accuracy"] for r in kept),
        "exec_course": sum(course),
    }


def unexpected(examples, kind: str, pairs: list[tuple[int, str]], limit: int = 3) -> list[str]:
    """Up to ``limit`` questions whose exact-set-match verdict differs from the one the definition fixes."""
    expected = EXPECTED_EXACT[kind]
    lines = []
    if expected is None:
        return lines
    for k, pred in pairs:
        bad = mismatched_components(pred, examples[k].sql, examples[k].schema)
        if (not bad) != expected:
            lines.append(f"  {kind} #{examples[k].meta['index']}: {bad or 'match'} | {pred}")
            if len(lines) >= limit:
                break
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="Spider folder (default: found automatically)")
    parser.add_argument("--out", default=None, help="mixed prediction file (default: outputs/spider_altered.sql)")
    args = parser.parse_args(argv)
    examples = load_spider(args.root, "dev")
    start = time.perf_counter()
    kinds = altered_predictions(examples)
    header = (f"{'alteration':<16} {'n':>4} {'exact set':>9} {'string':>7} {'set only':>8} {'str only':>8} "
              f"{'expected':>8} {'agree':>7} {'exec off.':>9} {'exec keep':>9} {'exec course':>11}")
    print(f"Spider dev, {len(examples)} questions with a database; counts of questions scored as matching")
    print(header)
    print("-" * len(header))
    notes = []
    for kind, pairs in kinds.items():
        c = score_kind(examples, pairs)
        expected = EXPECTED_EXACT[kind]
        agree = "-" if expected is None else f"{(c['exact_set'] if expected else c['n'] - c['exact_set'])}/{c['n']}"
        print(f"{kind:<16} {c['n']:>4} {c['exact_set']:>9} {c['string']:>7} {c['set_only']:>8} {c['string_only']:>8} "
              f"{'-' if expected is None else ('match' if expected else 'no'):>8} {agree:>7} "
              f"{c['exec_official']:>9} {c['exec_keep_distinct']:>9} {c['exec_course']:>11}")
        notes += unexpected(examples, kind, pairs)
    if notes:
        print("exact-set-match verdicts that differ from the definition's:")
        print("\n".join(notes))
    mixed = write_mixed(examples, kinds, Path(args.out) if args.out else outputs_dir() / "spider_altered.sql")
    print(f"mixed prediction file ({len(examples)} lines, alterations in turn): {mixed}")
    print(f"scored in {time.perf_counter() - start:.0f} s")
    return 0


def write_mixed(examples, kinds: dict[str, list[tuple[int, str]]], path: Path) -> Path:
    """One prediction per question, cycling through the alterations (the gold query where one does not apply)."""
    lookup = {kind: dict(pairs) for kind, pairs in kinds.items()}
    order = [k for k in kinds if k != "unchanged"]
    lines = []
    for k, ex in enumerate(examples):
        kind = order[k % len(order)]
        sql = lookup[kind].get(k, ex.sql)
        lines.append(" ".join(sql.split()) + f"\t{ex.db_id}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
