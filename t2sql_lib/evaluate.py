"""Metrics for predicted SQL and the report ``t2sql eval`` prints.

Metric definitions
------------------
Every metric of the course, for each kind of data, is defined here and nowhere else.

**Spider** (examples with ``meta["dataset"] == "spider"``): the rules of the official evaluators, so that the
numbers compare with published ones.

* ``execution_accuracy``: as the test-suite evaluator computes it. DISTINCT is removed from both queries before
  they run (every ``DISTINCT`` keyword, ``count(DISTINCT x)`` included) unless ``keep_distinct=True``
  (``t2sql eval --keep-distinct``); the results must be equal as multisets of rows, as lists when the gold text
  has an ORDER BY anywhere; the columns may come in any order (some permutation of the prediction's columns
  must give the gold rows). Floats are compared to 6 decimals (the official script compares them exactly).
* ``exact_match``: Spider's **exact set match** (``t2sql_lib.spider_match``): the queries agree clause by
  clause as sets of components (SELECT, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT present or not,
  INTERSECT/UNION/EXCEPT, keywords); values and DISTINCT are ignored, aliases are resolved to tables, columns
  linked by a foreign key count as one. A prediction the grammar cannot read is no match. A gold query it
  cannot read (none in Spider dev) is scored by ``string_match`` and counted in ``counts()["gold_unreadable"]``.
* ``string_match``: the normalised-string match below, reported beside it.

**Generated data** (``t2sql_lib.synth``) and any other dataset without its own rules:

* ``execution_accuracy``: the prediction's rows equal the gold query's rows as multisets; their order matters
  only when the gold query has a top-level ORDER BY. Column order matters; floats are compared to 6 decimals so
  that equivalent arithmetic in another order still matches. DISTINCT is kept.
* ``exact_match``: the normalised-string match: the two queries have the same text after ``sql.normalize_sql``
  (case, whitespace, table aliases, double-quoted strings, order of AND terms and of ``=`` operands).

**WikiSQL**: ``execution_accuracy`` and ``logical_form_accuracy`` with WikiSQL's own semantics (see
``t2sql_lib.wikisql``); ``exact_match`` is the normalised-string match.

**Every dataset**: ``valid_sql``: the prediction runs without error under ``execute_sql``. Spider hardness
buckets (``meta["hardness"]``, ``t2sql_lib.hardness``) split every summary.

Spider dev's gold queries scored against themselves (``t2sql eval --predictions dev_gold.sql``):

>>> dev = load_spider(split="dev")  # doctest: +SKIP
>>> print(evaluate(dev, [ex.sql for ex in dev]).to_dataframe())  # doctest: +SKIP
        count  execution_accuracy  exact_match  string_match  valid_sql
easy      232                 1.0          1.0           1.0        1.0
medium    416                 1.0          1.0           1.0        1.0
hard      160                 1.0          1.0           1.0        1.0
extra     164                 1.0          1.0           1.0        1.0
all       972                 1.0          1.0           1.0        1.0
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from .hardness import HARDNESS_LEVELS
from .schema import Example, Schema
from .spider_match import SpiderParseError, SpiderQuery, exact_set_match, parse_spider_sql
from .sql import DIALECT, SQLError, execute_sql, normalize_sql, parse_sql

EVAL_MAX_ROWS = 100_000  # gold results in Spider are far smaller; the cap only guards against runaway predictions


# ---------------------------------------------------------------------------------------------------------
# Comparing results

def _canonical_value(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return round(value, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    return value


def _canonical_rows(rows: list[tuple]) -> list[tuple]:
    return [tuple(_canonical_value(v) for v in row) for row in rows]


def results_match(gold_rows: list[tuple], pred_rows: list[tuple], ordered: bool) -> bool:
    """True when two result sets are equal: as lists when ``ordered``, else as multisets of rows."""
    if len(gold_rows) != len(pred_rows):
        return False
    gold, pred = _canonical_rows(gold_rows), _canonical_rows(pred_rows)
    if gold and len(gold[0]) != len(pred[0]):
        return False
    return gold == pred if ordered else Counter(gold) == Counter(pred)


def results_match_any_column_order(gold_rows: list[tuple], pred_rows: list[tuple], ordered: bool,
                                   max_permutations: int = 10_000) -> bool:
    """``results_match`` where the prediction's columns may come in any order (the test-suite evaluator's rule).

    Only permutations that pair columns holding the same multiset of values are tried, at most
    ``max_permutations`` of them.
    """
    if not gold_rows and not pred_rows:
        return True
    if len(gold_rows) != len(pred_rows) or len(gold_rows[0]) != len(pred_rows[0]):
        return False
    gold, pred = _canonical_rows(gold_rows), _canonical_rows(pred_rows)
    n = len(gold[0])
    gold_cols = [Counter(row[i] for row in gold) for i in range(n)]
    pred_cols = [Counter(row[j] for row in pred) for j in range(n)]
    options = [[j for j in range(n) if pred_cols[j] == gold_cols[i]] for i in range(n)]
    target = gold if ordered else Counter(gold)
    tried = 0

    def search(i: int, perm: list[int]) -> bool:
        nonlocal tried
        if i == n:
            tried += 1
            rows = [tuple(row[j] for j in perm) for row in pred]
            return (rows if ordered else Counter(rows)) == target
        return any(search(i + 1, perm + [j]) for j in options[i] if j not in perm and tried < max_permutations)

    return search(0, [])


def remove_distinct(sql: str) -> str:
    """``sql`` without its DISTINCT keywords (``SELECT DISTINCT``, ``count(DISTINCT x)``), as the official
    Spider evaluator removes them before executing; text that does not tokenize comes back unchanged."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(DIALECT).tokenize(sql)
    except Exception:  # sqlglot's TokenError and whatever a malformed text provokes: nothing to remove
        return sql
    pieces, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.DISTINCT:
            pieces.append(sql[start:token.start])
            start = token.end + 1
    return "".join(pieces) + sql[start:] if pieces else sql


def gold_orders_rows(gold_sql: str) -> bool:
    """The official Spider rule for when row order counts: the gold text has an ORDER BY anywhere."""
    return bool(re.search(r"\border\s+by\b", gold_sql, flags=re.IGNORECASE))


def is_ordered(sql: str) -> bool:
    """True when the query has a top-level ORDER BY (so the order of its rows is part of the answer)."""
    try:
        tree = parse_sql(sql)
    except SQLError:
        return bool(re.search(r"\border\s+by\b", sql, flags=re.IGNORECASE))
    return tree.args.get("order") is not None


def execution_match(db_path: str | Path, pred_sql: str, gold_sql: str, timeout_s: float = 5.0) -> bool:
    """True when ``pred_sql`` returns the same rows as ``gold_sql`` on ``db_path`` (False if either fails)."""
    gold = execute_sql(db_path, gold_sql, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    if not gold.ok:
        return False
    pred = execute_sql(db_path, pred_sql, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    return pred.ok and results_match(gold.rows, pred.rows, is_ordered(gold_sql))


def spider_execution_match(db_path: str | Path, pred_sql: str, gold_sql: str, *, keep_distinct: bool = False,
                           timeout_s: float = 5.0) -> bool:
    """Execution match by the official Spider rules (see the module docstring; False if either query fails)."""
    if not keep_distinct:
        pred_sql, gold_sql = remove_distinct(pred_sql), remove_distinct(gold_sql)
    gold = execute_sql(db_path, gold_sql, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    if not gold.ok:
        return False
    pred = execute_sql(db_path, pred_sql, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    return pred.ok and results_match_any_column_order(gold.rows, pred.rows, gold_orders_rows(gold_sql))


def string_match(pred: str, gold: str) -> bool:
    """True when the two queries are the same after ``normalize_sql`` (a prediction that does not parse: False)."""
    try:
        gold_norm = normalize_sql(gold)
    except SQLError:  # gold sqlglot cannot read: fall back to comparing whitespace-collapsed text
        return " ".join(str(pred).lower().split()) == " ".join(gold.lower().split())
    try:
        return normalize_sql(pred) == gold_norm
    except SQLError:
        return False


exact_match = string_match  # the exact match of generated data and WikiSQL; Spider's is ``exact_set_match``


def is_valid_sql(db_path: str | Path, sql: str) -> bool:
    """True when ``sql`` runs on ``db_path`` under the safe executor without an error."""
    return execute_sql(db_path, sql).ok


# ---------------------------------------------------------------------------------------------------------
# Report

METRICS = ("execution_accuracy", "exact_match", "string_match", "valid_sql", "logical_form_accuracy")
_DEFAULT_COLUMNS = ("execution_accuracy", "exact_match", "valid_sql")


@dataclass
class EvalReport:
    """Per-example outcomes and their summary, overall and per hardness bucket.

    ``to_dataframe()`` is the summary table; ``per_example()`` one row per question; ``to_json()`` both.
    """

    records: list[dict[str, Any]]
    n_missing: int = 0  # questions that had no prediction at all (scored wrong)
    info: dict[str, Any] = field(default_factory=dict)

    def per_example(self) -> pd.DataFrame:
        """One row per question: ids, hardness, prediction, gold and each metric."""
        return pd.DataFrame(self.records)

    def _metric_names(self) -> list[str]:
        present = {k for r in self.records for k, v in r.items() if v is not None}
        return [m for m in METRICS if m in present] or list(_DEFAULT_COLUMNS)

    def to_dataframe(self) -> pd.DataFrame:
        """Summary: one row per hardness bucket present, then ``all``; columns ``count`` and each metric."""
        metrics = self._metric_names()
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in self.records:
            if r.get("hardness"):
                groups.setdefault(r["hardness"], []).append(r)
        order = [h for h in HARDNESS_LEVELS if h in groups] + sorted(set(groups) - set(HARDNESS_LEVELS))
        rows, index = [], []
        for name, group in [(h, groups[h]) for h in order] + [("all", self.records)]:
            row: dict[str, Any] = {"count": len(group)}
            for m in metrics:
                values = [r[m] for r in group if r.get(m) is not None]
                row[m] = sum(values) / len(values) if values else float("nan")
            rows.append(row)
            index.append(name)
        return pd.DataFrame(rows, index=index, columns=["count", *metrics])

    def summary(self) -> dict[str, dict[str, float]]:
        """The summary table as ``{bucket: {metric: value}}``."""
        df = self.to_dataframe()
        return {name: {k: (int(v) if k == "count" else round(float(v), 6)) for k, v in row.items()}
                for name, row in df.iterrows()}

    @property
    def execution_accuracy(self) -> float:
        """Execution accuracy over every question."""
        return self.summary()["all"]["execution_accuracy"]

    def counts(self) -> dict[str, int]:
        """How many questions, predictions missing, empty predictions, valid, executed right, exactly right."""
        n = len(self.records)
        return {
            "questions": n,
            "missing_predictions": self.n_missing,
            "empty_predictions": sum(1 for r in self.records
                                     if not r.get("missing") and not (r.get("prediction") or "").strip()),
            "valid_sql": sum(1 for r in self.records if r.get("valid_sql")),
            "execution_match": sum(1 for r in self.records if r.get("execution_accuracy")),
            "exact_match": sum(1 for r in self.records if r.get("exact_match")),
            "string_match": sum(1 for r in self.records if r.get("string_match")),
            "gold_errors": sum(1 for r in self.records if r.get("gold_error")),
            "gold_unreadable": sum(1 for r in self.records if r.get("gold_unreadable")),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready data: info, counts, summary and per-example records."""
        return {"info": self.info, "counts": self.counts(), "summary": self.summary(), "examples": self.records}

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON text (NaN written as null)."""
        def clean(x: Any) -> Any:
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x
        return json.dumps(clean(self.to_dict()), indent=indent, ensure_ascii=False)

    def save_json(self, path: str | Path) -> Path:
        """Write ``to_json()`` to ``path`` (parents created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    def __str__(self) -> str:
        c = self.counts()
        lines = [self.to_dataframe().to_string(float_format=lambda v: f"{v:.3f}"), "",
                 f"{c['questions']} questions: {c['execution_match']} execution matches, "
                 f"{c['exact_match']} exact matches, {c['valid_sql']} valid SQL"]
        if self.info.get("rules"):  # Spider: name the metric, and give the string match beside it
            lines[-1] = lines[-1].replace(" exact matches,", f" exact set matches ({c['string_match']} string matches),")
        if c["missing_predictions"] or c["empty_predictions"]:
            lines.append(f"{c['missing_predictions']} questions without a prediction and "
                         f"{c['empty_predictions']} empty predictions: scored as wrong")
        if c["gold_errors"]:
            lines.append(f"{c['gold_errors']} gold queries failed to run (their questions score 0)")
        if c["gold_unreadable"]:
            lines.append(f"{c['gold_unreadable']} gold queries outside Spider's grammar: exact match by string match")
        if self.info.get("rules"):
            lines.append(self.info["rules"])
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Evaluation

def spider_rules(keep_distinct: bool = False) -> str:
    """One line saying which rules scored Spider (printed by the report and ``t2sql eval``)."""
    distinct = ("DISTINCT kept (--keep-distinct)" if keep_distinct
                else "DISTINCT removed from both queries before executing (the official default)")
    return ("Spider rules (official): exact_match is Spider's exact set match, string_match the normalised-string "
            f"match; execution accuracy with {distinct}, row order compared only when the gold query has ORDER BY, "
            "columns in any order")


def _spider_metrics(example: Example, pred: str, timeout_s: float, keep_distinct: bool) -> dict[str, Any]:
    """Execution by the official rules, exact set match and string match of one Spider prediction."""
    pred_run = pred if keep_distinct else remove_distinct(pred)
    gold_run = example.sql if keep_distinct else remove_distinct(example.sql)
    gold = execute_sql(example.db_path, gold_run, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    result = execute_sql(example.db_path, pred_run, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    # valid_sql judges the prediction as written
    valid = result if pred_run == pred else execute_sql(example.db_path, pred, timeout_s=timeout_s, max_rows=1)
    out: dict[str, Any] = {
        "valid_sql": valid.ok,
        "execution_accuracy": bool(gold.ok and result.ok and results_match_any_column_order(
            gold.rows, result.rows, gold_orders_rows(gold_run))),
        "string_match": bool(pred) and string_match(pred, example.sql),
    }
    try:
        out["exact_match"] = bool(pred) and exact_set_match(pred, _spider_gold(example.sql, example.schema), example.schema)
    except SpiderParseError:  # a gold query outside Spider's grammar: scored by the string match, and counted
        out["exact_match"], out["gold_unreadable"] = out["string_match"], True
    out["error"] = f"{type(valid.error).__name__}: {valid.error}" if valid.error else None
    out["gold_error"] = f"{type(gold.error).__name__}: {gold.error}" if gold.error else None
    return out


@lru_cache(maxsize=4096)
def _spider_gold(sql: str, schema: Schema) -> SpiderQuery:
    """A gold query read once (evaluation reads the same gold for every decoder); SpiderParseError if it cannot be."""
    return parse_spider_sql(sql, schema)


def _evaluate_one(example: Example, prediction: str | None, timeout_s: float,
                  keep_distinct: bool = False) -> dict[str, Any]:
    """The metrics of one prediction against one example."""
    pred = (prediction or "").strip()
    record: dict[str, Any] = {
        "index": example.meta.get("index"),
        "db_id": example.db_id,
        "hardness": example.meta.get("hardness"),
        "question": example.question,
        "gold": example.sql,
        "prediction": pred,
        "missing": prediction is None,
    }
    if example.meta.get("dataset") == "wikisql":
        if example.db_path is None or not Path(example.db_path).is_file():
            raise FileNotFoundError(f"no WikiSQL database for table {example.db_id!r}: looked for {example.db_path}")
        from .wikisql import evaluate_wikisql_prediction

        record.update(evaluate_wikisql_prediction(example, pred, timeout_s=timeout_s))
        record["exact_match"] = bool(pred) and string_match(pred, example.sql)
        return record
    if example.db_path is None or not Path(example.db_path).is_file():
        raise FileNotFoundError(f"no database for db_id {example.db_id!r} (question {example.meta.get('index')}): "
                                f"looked for {example.db_path}")
    if example.meta.get("dataset") == "spider":
        record.update(_spider_metrics(example, pred, timeout_s, keep_distinct))
        return record
    gold = execute_sql(example.db_path, example.sql, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    result = execute_sql(example.db_path, pred, timeout_s=timeout_s, max_rows=EVAL_MAX_ROWS)
    record["valid_sql"] = result.ok
    record["execution_accuracy"] = bool(gold.ok and result.ok
                                        and results_match(gold.rows, result.rows, is_ordered(example.sql)))
    record["exact_match"] = bool(pred) and string_match(pred, example.sql)
    record["error"] = f"{type(result.error).__name__}: {result.error}" if result.error else None
    record["gold_error"] = f"{type(gold.error).__name__}: {gold.error}" if gold.error else None
    return record


def evaluate(examples: Sequence[Example], predictions: Sequence[str | None], *, timeout_s: float = 5.0,
             progress: bool = False, info: dict[str, Any] | None = None, keep_distinct: bool = False) -> EvalReport:
    """Score ``predictions`` (one SQL string per example, ``None`` for a missing one) against ``examples``.

    Returns an ``EvalReport`` with execution accuracy, exact match, valid-SQL rate (and logical-form
    accuracy for WikiSQL), overall and per Spider hardness bucket; each dataset by its own rules (module
    docstring). ``keep_distinct=True`` executes Spider queries with their DISTINCT.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples: they must pair up")
    pairs = zip(examples, predictions)
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, total=len(examples), desc="evaluating")
    records = [_evaluate_one(ex, pred, timeout_s, keep_distinct) for ex, pred in pairs]
    n_missing = sum(1 for p in predictions if p is None)
    info = dict(info or {})
    if any(ex.meta.get("dataset") == "spider" for ex in examples):
        info["rules"] = spider_rules(keep_distinct)
        info["keep_distinct"] = keep_distinct
    return EvalReport(records=records, n_missing=n_missing, info=info)


_DB_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def _split_db_id(line: str, expected: str) -> tuple[str, str | None]:
    """Split ``SQL<TAB>db_id`` (or ``SQL |db_id``, as some copies of Spider's gold files have it)."""
    if "\t" in line:
        head, tail = line.rsplit("\t", 1)
        if _DB_ID.match(tail.strip()):
            return head, tail.strip()
    if "|" in line:
        # "|" is also SQL's bitwise OR, so only a tail equal to the expected db_id is taken as one.
        head, tail = line.rsplit("|", 1)
        if tail.strip() == expected and not head.endswith("|"):
            return head, expected
    return line, None


def read_predictions(path: str | Path, examples: Sequence[Example]) -> list[str | None]:
    """Read a predictions file (one SQL per line, optionally ``SQL<TAB>db_id``) into one entry per example.

    Lines pair with ``examples`` in order. When the file has one line per question of the whole dataset
    file (``examples.total``, e.g. 1,034 for Spider dev) while some were skipped for lack of a database, the
    lines pair by ``meta["index"]`` instead. Questions past the end of a short file get ``None`` (missing);
    a file with too many lines, or whose ``db_id`` disagrees with its question's, is an error naming the
    file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no predictions file at {path}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a leading byte-order mark is dropped
    except UnicodeDecodeError as err:
        line_no = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line_no}: not UTF-8 text ({err.reason})") from err
    total = getattr(examples, "total", len(examples))
    by_index = len(lines) == total != len(examples)
    if len(lines) > total:
        raise ValueError(f"{path}: {len(lines)} lines but the dataset has {total} questions "
                         f"({len(examples)} with a database)")
    positions = {ex.meta.get("index"): k for k, ex in enumerate(examples)} if by_index else None
    out: list[str | None] = [None] * len(examples)
    for line_no, line in enumerate(lines, start=1):
        if positions is not None:
            k = positions.get(line_no - 1)
            if k is None:  # a question skipped by the loader (no database): its line is not scored
                continue
        else:
            k = line_no - 1
            if k >= len(examples):
                raise ValueError(f"{path}:{line_no}: more predictions than the {len(examples)} questions")
        sql, db_id = _split_db_id(line, examples[k].db_id)
        if db_id is not None and db_id != examples[k].db_id:
            raise ValueError(f"{path}:{line_no}: prediction is for db_id {db_id!r} but question "
                             f"{examples[k].meta.get('index', k)} is on {examples[k].db_id!r}; "
                             "are the lines in dataset order?")
        out[k] = sql.strip()
    return out
