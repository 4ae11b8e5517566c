"""Fuzzing the executor and the metrics (issue 25): a few hundred grammar-generated hostile and malformed
queries through ``execute_sql``, ``exact_match``, Spider's exact set match and ``t2sql eval``. Nothing raises,
the database and its folders are unchanged, no file appears, and every query stops within twice its limit.
The 10,000-case run is ``benchmarks/bench_fuzz_executor.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_sql import (
    FuzzStats,
    Grammar,
    changed_files,
    eval_lines,
    make_db,
    make_spider_folder,
    run_cases,
    snapshot,
)

from t2sql_lib.cli import main as t2sql
from t2sql_lib.spider import load_spider_schemas

N_CASES = 300
N_EVAL_CASES = 120  # t2sql eval runs each prediction up to three times and reads it four ways: fewer cases
LIMIT_S = 0.5


@pytest.fixture()
def place(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("db", "scratch", "spider", "out")}
    for folder in folders.values():
        folder.mkdir()
    make_db(folders["db"] / "music.sqlite")
    make_spider_folder(folders["spider"] / "root", n_questions=60)
    monkeypatch.chdir(folders["scratch"])  # ATTACH 'x.db' with a relative name would land here
    return folders


def test_fuzz_execute_sql_and_exact_match(place):
    grammar = Grammar(seed=25, scratch=place["scratch"])
    cases = [grammar.case() for _ in range(N_CASES)]
    watched = [place["db"], place["scratch"], place["spider"]]
    before = snapshot(watched)
    stats = FuzzStats()
    schema = load_spider_schemas(place["spider"] / "root")["music"]
    run_cases(place["db"] / "music.sqlite", cases, LIMIT_S, stats, spider_schema=schema)
    assert stats.exceptions == [], "\n".join(stats.exceptions[:5])
    assert changed_files(before, snapshot(watched)) == []
    assert stats.worst_ratio < 2.0, stats.summary()
    assert stats.cases == N_CASES and len(stats.by_family) >= 12 and stats.timeouts > 0


def test_fuzz_through_t2sql_eval(place, capsys):
    root = place["spider"] / "root"
    grammar = Grammar(seed=26, scratch=place["scratch"])
    lines = eval_lines([grammar.case() for _ in range(N_EVAL_CASES)])
    watched = [place["db"], place["scratch"], place["spider"]]
    before = snapshot(watched)
    for k in range(0, len(lines), 60):
        predictions = place["out"] / f"pred{k}.sql"
        predictions.write_text("\n".join(lines[k:k + 60]) + "\n", encoding="utf-8")
        report = place["out"] / f"report{k}.json"
        code = t2sql(["eval", "--root", str(root), "--split", "dev", "--predictions", str(predictions),
                      "--output", str(report), "--timeout", "0.2"])
        assert code == 0, capsys.readouterr().err[-2000:]
        assert report.is_file()
    assert changed_files(before, snapshot(watched)) == []
    bad = place["out"] / "bad.sql"
    bad.write_bytes(b"SELECT 1\nSELECT \xff\xfe name FROM singer\n")
    assert t2sql(["eval", "--root", str(root), "--split", "dev", "--predictions", str(bad),
                  "--output", str(place["out"] / "bad.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.sql:2: not UTF-8" in err
