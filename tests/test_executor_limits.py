"""The executor's limits (issue 25): time covers parsing and slow single calls, results are capped in bytes,
limits are checked, and pragma functions are refused."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import t2sql_lib.sql as sqlmod
from t2sql_lib.sql import (
    SQLForbidden,
    SQLRuntimeError,
    SQLSyntaxError,
    SQLTimeout,
    execute_sql,
    normalize_sql,
)


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE t (x integer, s text); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
    con.commit()
    con.close()
    return path


def test_a_slow_single_call_is_stopped_by_the_value_cap(db):
    # instr() on megabyte operands takes seconds inside one VM step, out of any progress handler's reach
    for sql in ["SELECT instr(hex(zeroblob(1e6)), hex(zeroblob(5e5)) || '1')",
                "SELECT replace(hex(zeroblob(1e6)), hex(zeroblob(5e5)) || '1', 'x')",
                "SELECT hex(zeroblob(250000)) LIKE '%' || hex(zeroblob(20000)) || '1%'"]:
        result = execute_sql(db, sql, timeout_s=1.0)
        assert not result.ok and isinstance(result.error, SQLRuntimeError), (sql, result.error)
        assert result.elapsed_s < 1.0


def test_printf_and_format_are_refused(db, monkeypatch):
    # printf('%.*c', 2e9, 'x') runs for 20 s inside one VM step: no interrupt reaches it
    for sql in ["SELECT length(printf('%.*c', 2e9, 'x'))", "SELECT format('%d', x) FROM t"]:
        result = execute_sql(db, sql, timeout_s=1.0)
        assert isinstance(result.error, SQLForbidden) and result.elapsed_s < 0.5
    monkeypatch.setattr(sqlmod, "check_read_only", lambda sql: None)  # the authorizer alone
    result = execute_sql(db, "SELECT length(printf('%.*c', 2e9, 'x'))", timeout_s=1.0)
    assert isinstance(result.error, SQLForbidden) and result.elapsed_s < 0.5


def test_huge_values_fail_fast_without_filling_memory(db):
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
           "SELECT zeroblob(40e6) FROM n")
    result = execute_sql(db, sql, timeout_s=1.0)
    assert isinstance(result.error, SQLRuntimeError) and "100,000 bytes" in str(result.error)
    assert result.elapsed_s < 1.0


def test_results_are_capped_in_bytes_and_marked_truncated(db):
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
           "SELECT i, hex(zeroblob(20000)) FROM n")
    result = execute_sql(db, sql, max_bytes=200_000)
    assert result.ok and result.truncated
    assert 0 < len(result.rows) < 100
    assert sum(len(r[1]) for r in result.rows) <= 200_000
    whole = execute_sql(db, sql)
    assert whole.ok and not whole.truncated and len(whole.rows) == 100


def test_input_length_is_capped_before_parsing(db):
    huge_in = "SELECT x FROM t WHERE x IN (" + ",".join(["123456"] * 150_000) + ")"  # about 1 MB
    start = time.perf_counter()
    result = execute_sql(db, huge_in, timeout_s=1.0)
    assert isinstance(result.error, SQLSyntaxError) and "longer than" in str(result.error)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(SQLSyntaxError, match="longer than"):
        normalize_sql(huge_in)
    assert execute_sql(db, "SELECT x FROM t WHERE x IN (" + ",".join(["1"] * 2000) + ")").rows == [(1,)]


def test_parsing_counts_toward_the_time_limit(db, monkeypatch):
    real = sqlmod.check_read_only

    def slow_check(sql):
        time.sleep(0.3)
        return real(sql)

    monkeypatch.setattr(sqlmod, "check_read_only", slow_check)
    result = execute_sql(db, "SELECT 1", timeout_s=0.1)
    assert isinstance(result.error, SQLTimeout) and "parsing" in str(result.error)


def test_the_watchdog_timer_interrupts_without_the_progress_handler(db, monkeypatch):
    # With the progress handler blind, only the timer thread's Connection.interrupt() can stop the query.
    monkeypatch.setattr(sqlmod._Watchdog, "_progress", lambda self: 0)
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n"
    result = execute_sql(db, sql, timeout_s=0.3)
    assert isinstance(result.error, SQLTimeout)
    assert result.elapsed_s < 0.6


def test_the_timer_never_touches_a_closed_connection(db):
    errors = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args)
    try:
        for _ in range(200):
            execute_sql(db, "SELECT x FROM t", timeout_s=0.001)
        time.sleep(0.05)
    finally:
        threading.excepthook = old_hook
    assert errors == []


@pytest.mark.parametrize("timeout", [math.nan, -1.0, 0.0, "5", None, True])
def test_a_timeout_that_is_not_a_positive_number_is_refused(db, timeout):
    # perf_counter() > nan is always False: a nan limit would disable the limit
    with pytest.raises(ValueError, match="timeout_s"):
        execute_sql(db, "SELECT 1", timeout_s=timeout)


def test_no_time_limit_and_caps_are_checked(db):
    assert execute_sql(db, "SELECT 1", timeout_s=math.inf).rows == [(1,)]
    with pytest.raises(ValueError, match="max_rows"):
        execute_sql(db, "SELECT 1", max_rows=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        execute_sql(db, "SELECT 1", max_bytes=-5)
    result = execute_sql(db, "SELECT x FROM t", max_rows=0)
    assert result.ok and result.rows == [] and result.truncated


def test_pragma_functions_are_refused_by_both_layers(db, monkeypatch):
    sql = "SELECT name FROM pragma_table_info('t')"
    result = execute_sql(db, sql)
    assert isinstance(result.error, SQLForbidden) and "pragma" in str(result.error)
    monkeypatch.setattr(sqlmod, "check_read_only", lambda sql: None)  # the authorizer alone
    result = execute_sql(db, sql)
    assert isinstance(result.error, SQLForbidden) and "not authorized" in str(result.error)
