"""The generated dataset: databases, patterns, splits, cache, and every gold query against its answer."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from t2sql_lib.schema import Example
from t2sql_lib.synth import (
    DOMAINS,
    PATTERNS,
    SPLITS,
    build_databases,
    domains_in_split,
    examples_path,
    generate_examples,
    load_generated,
)
from t2sql_lib.synth.build import _generated_databases, generate_for_database

N = 20_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="module")
def databases(cache):
    return _generated_databases(0, cache)


@pytest.fixture(scope="module")
def generated(databases):
    """The full 20k set with the Python-computed answer behind each example."""
    return generate_examples(databases, N, 0)


@pytest.fixture(scope="module")
def splits(cache, databases):
    return load_generated(n_examples=N, seed=0, cache_dir=cache)


def _comparable(rows: list[tuple], ordered: bool) -> list[tuple]:
    if ordered:
        return list(rows)
    # text sorts after numbers; floats are rounded only for the sort key, compared with a tolerance below
    return sorted(rows, key=lambda r: tuple((1, v) if isinstance(v, str) else (0, round(v, 6)) for v in r))


def _same(got: list[tuple], expected: list[tuple]) -> bool:
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected):
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if isinstance(x, str) or isinstance(y, str):
                if x != y:
                    return False
            elif not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                return False
    return True


# ---------------------------------------------------------------- the databases
def test_twenty_nine_databases_with_two_to_six_tables_and_foreign_keys(databases):
    assert len(databases) == len(DOMAINS) == 29
    assert {s: len(domains_in_split(s)) for s in SPLITS} == {"train": 24, "validation": 2, "test": 3}
    assert list(DOMAINS)[:24] == [d.db_id for d in domains_in_split("train")], "training databases come first"
    for db_id, db in databases.items():
        conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            assert 2 <= len(tables) <= 6, (db_id, tables)
            types = set()
            n_fks = 0
            for table in tables:
                info = conn.execute(f"PRAGMA table_info({table})").fetchall()
                types |= {r[2] for r in info}
                assert sum(r[5] for r in info) == 1, f"{db_id}.{table}: one primary-key column"
                n_fks += len(conn.execute(f"PRAGMA foreign_key_list({table})").fetchall())
                n_rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                assert 6 <= n_rows <= 500, (db_id, table, n_rows)
            assert {"TEXT", "INTEGER", "REAL", "DATE"} <= types, (db_id, types)
            assert n_fks >= 1, db_id
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], f"{db_id}: dangling foreign key"
        finally:
            conn.close()
        assert db.path.stat().st_size < 200_000, db_id


def test_schema_matches_the_database_file(databases):
    for db_id, db in databases.items():
        conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
        try:
            for table in db.schema.tables:
                info = conn.execute(f"PRAGMA table_info({table.name})").fetchall()
                assert [r[1] for r in info] == [c.name for c in table.columns]
                assert [r[2].lower() for r in info] == [c.type for c in table.columns]
                assert tuple(r[1] for r in info if r[5]) == table.primary_key
            declared = {(fk.table, fk.column, fk.ref_table, fk.ref_column) for fk in db.schema.foreign_keys}
            actual = {(t.name, r[3], r[2], r[4]) for t in db.schema.tables
                      for r in conn.execute(f"PRAGMA foreign_key_list({t.name})")}
            assert declared == actual, db_id
        finally:
            conn.close()
        assert {c.type for t in db.schema.tables for c in t.columns} == {"text", "integer", "real", "date"}


def test_label_columns_are_unique_so_questions_name_one_row(databases):
    for db in databases.values():
        for t in db.context.tables:
            if t.spec.label:
                values = t.values(t.spec.label)
                assert len(set(values)) == len(values), (db.db_id, t.name)
                assert not any(ch in v for v in values for ch in "%_'"), (db.db_id, t.name)


def test_databases_are_deterministic_for_a_seed(tmp_path, databases):
    again = build_databases(cache_dir=tmp_path, seed=0)
    for db_id, path in again.items():
        assert path.read_bytes() == databases[db_id].path.read_bytes(), db_id
    other = build_databases(cache_dir=tmp_path, seed=1)
    assert other["bookshop"].parent != again["bookshop"].parent
    assert other["bookshop"].read_bytes() != again["bookshop"].read_bytes()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], "temporary files were left behind"


# ---------------------------------------------------------------- the examples
def test_every_gold_query_returns_the_python_answer(generated, databases):
    conns = {db_id: sqlite3.connect(f"file:{db.path}?mode=ro", uri=True) for db_id, db in databases.items()}
    failures = defaultdict(list)
    try:
        for ex, draft in generated:
            got = conns[ex.db_id].execute(ex.sql).fetchall()
            assert got, f"empty result: {ex.sql}"
            if not _same(_comparable(got, draft.ordered), _comparable(draft.answer, draft.ordered)):
                failures[ex.meta["pattern"]].append(ex.sql)
    finally:
        for conn in conns.values():
            conn.close()
    assert not failures, {k: (len(v), v[0]) for k, v in failures.items()}


def test_forty_patterns_each_with_several_phrasings(generated):
    per_pattern = Counter(ex.meta["pattern"] for ex, _ in generated)
    print("examples per pattern:", dict(sorted(per_pattern.items())))
    assert len(per_pattern) >= 40
    assert set(per_pattern) == set(PATTERNS), f"never drawn: {set(PATTERNS) - set(per_pattern)}"
    phrasings: dict[str, set[int]] = defaultdict(set)
    for ex, draft in generated:
        phrasings[ex.meta["pattern"]].add(ex.meta["phrasing"])
        assert len(draft.questions) >= 2 and ex.question == draft.questions[ex.meta["phrasing"]]
    assert all(len(v) >= 2 for v in phrasings.values()), {k: v for k, v in phrasings.items() if len(v) < 2}


def test_the_sql_families_of_the_issue_are_all_present(generated):
    sql = [ex.sql for ex, _ in generated]
    for needle in (" WHERE ", " AND ", " OR ", " BETWEEN ", " LIKE ", " IN (", "COUNT(DISTINCT", " GROUP BY ",
                   " HAVING ", " ORDER BY ", " LIMIT ", " JOIN ", "(SELECT", " UNION ", " INTERSECT ", " EXCEPT ",
                   "AVG(", "SUM(", "MIN(", "MAX("):
        assert any(needle in s for s in sql), needle


def test_every_database_supports_most_patterns(generated):
    # a database takes turns over the patterns its schema supports; one that supports few teaches little
    per_db: dict[str, set[str]] = defaultdict(set)
    for ex, _ in generated:
        per_db[ex.db_id].add(ex.meta["pattern"])
    assert set(per_db) == set(DOMAINS)
    thin = {db_id: len(names) for db_id, names in per_db.items() if len(names) < 0.8 * len(PATTERNS)}
    assert not thin, thin


def test_questions_are_mostly_distinct_within_a_database(generated):
    per_db: dict[str, list[str]] = defaultdict(list)
    for ex, _ in generated:
        per_db[ex.db_id].append(ex.question)
    for db_id, questions in per_db.items():
        assert len(set(questions)) / len(questions) > 0.95, db_id


def test_generation_is_deterministic(databases, generated, splits):
    def key(examples):
        return [(e.question, e.sql, e.db_id, e.meta) for e in examples]

    first = key(e for e, _ in generated)
    assert key(e for e, _ in generate_examples(databases, N, 0)) == first
    loaded = [e for name in SPLITS for e in splits[name]]
    assert sorted(map(repr, key(loaded))) == sorted(map(repr, first)), "load_generated returns the same set"
    other = key(e for e, _ in generate_examples(databases, 500, 1))
    assert other != key(e for e, _ in generate_examples(databases, 500, 0))


# ---------------------------------------------------------------- load_generated: splits and cache
def test_splits_are_by_database(splits):
    assert set(splits) == set(SPLITS)
    ids = {name: {e.db_id for e in examples} for name, examples in splits.items()}
    assert len(ids["train"]) == 24 and len(ids["validation"]) == 2 and len(ids["test"]) == 3
    assert not ids["train"] & ids["validation"] and not ids["train"] & ids["test"] \
        and not ids["validation"] & ids["test"]
    for name in SPLITS:
        assert ids[name] == {d.db_id for d in domains_in_split(name)}
        assert all(e.meta["split"] == name for e in splits[name])
    assert sum(len(v) for v in splits.values()) == N
    per_db = Counter(e.db_id for v in splits.values() for e in v)
    assert max(per_db.values()) - min(per_db.values()) <= 1, "examples are spread evenly over databases"
    assert len({e.db_id for e in splits["train"][:40]}) >= 5, "a split's first examples mix databases"


def test_examples_carry_schema_path_and_meta(splits):
    for examples in splits.values():
        for ex in examples[::97]:
            assert isinstance(ex, Example)
            assert ex.db_path.is_absolute() and ex.db_path.is_file() and ex.db_path.stem == ex.db_id
            assert ex.schema.db_id == ex.db_id
            assert set(ex.meta) == {"pattern", "split", "phrasing"}
            assert ex.meta["pattern"] in PATTERNS
            assert ex.to_record()["schema"]["tables"]


def test_second_call_reads_the_cache(cache, splits, monkeypatch):
    path = examples_path(cache, 0, N)
    assert path.is_file()
    import t2sql_lib.synth.build as build

    def boom(*args, **kwargs):
        raise AssertionError("examples were regenerated instead of read from the cache")

    monkeypatch.setattr(build, "generate_examples", boom)
    start = time.perf_counter()
    again = load_generated(n_examples=N, seed=0, cache_dir=cache)
    assert time.perf_counter() - start < 10
    assert {k: [(e.question, e.sql, e.db_id, e.meta) for e in v] for k, v in again.items()} == \
        {k: [(e.question, e.sql, e.db_id, e.meta) for e in v] for k, v in splits.items()}


def test_a_truncated_cache_file_is_rebuilt(tmp_path):
    first = load_generated(n_examples=300, seed=2, cache_dir=tmp_path)
    path = examples_path(tmp_path, 2, 300)
    path.write_text(path.read_text().splitlines()[0] + "\n{broken", encoding="utf-8")
    again = load_generated(n_examples=300, seed=2, cache_dir=tmp_path)
    assert [e.sql for e in again["train"]] == [e.sql for e in first["train"]]


def test_one_split_can_be_asked_for(cache, splits):
    only = load_generated(n_examples=N, seed=0, cache_dir=cache, splits=["test"])
    assert list(only) == ["test"] and len(only["test"]) == len(splits["test"])


def test_twenty_thousand_examples_generate_in_under_twenty_seconds(tmp_path):
    start = time.perf_counter()
    out = load_generated(n_examples=N, seed=3, cache_dir=tmp_path)
    elapsed = time.perf_counter() - start
    assert sum(len(v) for v in out.values()) == N
    assert elapsed < 20, f"cold generation took {elapsed:.1f} s"


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "100"])
def test_bad_n_examples_is_refused(n, tmp_path):
    with pytest.raises(ValueError, match="n_examples"):
        load_generated(n_examples=n, cache_dir=tmp_path)


def test_unknown_split_and_bad_seed_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        load_generated(n_examples=10, cache_dir=tmp_path, splits=["train", "dev"])
    with pytest.raises(ValueError, match="unknown split"):
        domains_in_split("holdout")
    with pytest.raises(ValueError, match="seed"):
        load_generated(n_examples=10, seed=-1, cache_dir=tmp_path)


def test_domains_describe_their_split():
    assert set(DOMAINS) == {d.db_id for s in SPLITS for d in domains_in_split(s)}
    for domain in DOMAINS.values():
        assert domain.split in SPLITS
        assert 2 <= len(domain.tables) <= 6


def test_examples_do_not_depend_on_the_hash_seed(tmp_path):
    # set iteration order changes with PYTHONHASHSEED; a generator that drew from a set would differ here
    code = ("import hashlib, json, sys; from t2sql_lib.synth.build import _generated_databases, generate_examples; "
            "dbs = _generated_databases(0, sys.argv[1]); "
            "rows = [(e.question, e.sql) for e, _ in generate_examples(dbs, 1500, 0)]; "
            "print(hashlib.sha256(json.dumps(rows).encode()).hexdigest())")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / hash_seed)], env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_the_answer_check_can_fail(generated):
    ex, draft = next((e, d) for e, d in generated if e.meta["pattern"] == "top_k")
    rows = _comparable(draft.answer, True)
    assert _same(rows, rows)
    assert not _same(rows[:-1], rows), "a missing row is noticed"
    assert not _same(rows[::-1], rows), "a wrong order is noticed"
    assert not _same([(1.0,)], [(1.001,)]) and _same([(2,)], [(2.0,)])


def test_gold_sql_parses_with_sqlglot(generated):
    import sqlglot

    per_pattern: dict[str, list[str]] = defaultdict(list)
    for ex, _ in generated:
        if len(per_pattern[ex.meta["pattern"]]) < 10:
            per_pattern[ex.meta["pattern"]].append(ex.sql)
    for sqls in per_pattern.values():
        for sql in sqls:
            assert sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite")


def test_real_thresholds_fall_between_stored_values():
    from t2sql_lib.synth.patterns import between

    assert between(22.61, 22.65) == 22.63
    assert between(56.1, 131.4) == 94.0
    assert between(185000.0, 185002.0) == 185001.0
    for lo, hi in ((0.1, 0.11), (-3.5, -3.4), (1.0, 1.01), (7.0, 7.000001)):
        x = between(lo, hi)
        assert lo < x < hi, (lo, hi, x)


def test_a_missing_or_stale_database_is_rebuilt(tmp_path, databases):
    paths = build_databases(cache_dir=tmp_path)
    paths["clinic"].unlink()
    paths["bookshop"].write_bytes(b"not a database")
    manifest_path = paths["bookshop"].parent / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["databases"]["bookshop"] = "rows-from-an-older-generator"
    manifest_path.write_text(json.dumps(manifest))
    before = paths["museum"].stat().st_mtime_ns
    build_databases(cache_dir=tmp_path)
    for db_id in ("clinic", "bookshop"):
        assert paths[db_id].read_bytes() == databases[db_id].path.read_bytes(), db_id
    assert paths["museum"].stat().st_mtime_ns == before, "an up-to-date database is left alone"


def test_new_training_questions_are_new_and_on_the_training_databases(tmp_path):
    from t2sql_lib.synth import load_generated, new_training_questions

    train = load_generated(n_examples=400, seed=3, cache_dir=tmp_path)["train"]
    fresh = new_training_questions(400, 3, cache_dir=tmp_path)
    assert len(fresh) > 0.5 * len(train)
    assert not {e.question for e in fresh} & {e.question for e in train}
    assert {e.db_id for e in fresh} == {e.db_id for e in train}
    assert [e.question for e in fresh] == [e.question for e in load_generated(n_examples=400, seed=4, cache_dir=tmp_path)
                                           ["train"] if e.question not in {t.question for t in train}]


def test_a_small_database_gives_many_questions_without_failing(databases):
    """Patterns can fail many draws in a row on a small database (university has 8 departments): 2,352 questions
    about it once raised "no pattern produced an example in 25 tries" (demo data with 2,352 per database)."""
    out = generate_for_database(databases["university"], 2_400, seed=0)
    assert len(out) == 2_400
    questions = [ex.question for ex, _ in out]
    assert len(set(questions)) > 0.9 * len(questions)  # repeats only once new questions run out
    # the same draws as before for the first questions: the fix only acts where the old loop gave up
    assert [ex.question for ex, _ in generate_for_database(databases["university"], 50, seed=0)] == questions[:50]
