"""The safe executor: read-only, one statement, time limit, row cap, typed errors, files never change."""

from __future__ import annotations

import hashlib
import sqlite3
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
    read_schema,
)


def make_music_db(path: Path) -> Path:
    """A small database with a primary key, a foreign key, odd names and a non-UTF-8 text value."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE singer (singer_id integer PRIMARY KEY, name varchar(20), country text, "Home Town" text);
        CREATE TABLE concert (concert_id integer PRIMARY KEY, singer_id integer REFERENCES singer(singer_id),
                              year int, untyped);
        INSERT INTO singer VALUES (1, 'Joe', 'France', 'Lyon'), (2, 'Ana', 'Spain', 'Vigo'),
                                  (3, 'Li', 'France', 'Nice');
        INSERT INTO concert VALUES (10, 1, 2014, NULL), (11, 1, 2015, NULL), (12, 3, 2015, NULL);
        CREATE TABLE odd (t text);
        INSERT INTO odd VALUES (CAST(x'ff41' AS TEXT));
    """)
    con.commit()
    con.close()
    return path


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return make_music_db(tmp_path / "music.sqlite")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_returns_rows_and_columns(db):
    result = execute_sql(db, "SELECT name, country FROM singer WHERE country = 'France' ORDER BY name")
    assert result.ok and result.error is None
    assert result.columns == ["name", "country"]
    assert result.rows == [("Joe", "France"), ("Li", "France")]
    assert not result.truncated and result.elapsed_s >= 0


def test_with_and_spider_style_double_quoted_strings_run(db):
    assert execute_sql(db, 'WITH f AS (SELECT * FROM singer WHERE country = "France") SELECT count(*) FROM f').rows \
        == [(2,)]


def test_trailing_semicolons_and_comments_are_one_statement(db):
    for sql in ["SELECT count(*) FROM singer;", "SELECT count(*) FROM singer;;", "SELECT count(*) FROM singer; -- n"]:
        assert execute_sql(db, sql).rows == [(3,)], sql


def test_row_cap_marks_truncation(db):
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) SELECT x FROM n"
    result = execute_sql(db, sql, max_rows=10)
    assert result.ok and result.truncated
    assert result.rows == [(i,) for i in range(1, 11)]
    assert not execute_sql(db, sql, max_rows=50).truncated


def test_invalid_utf8_stored_in_the_database_is_decoded_not_fatal(db):
    result = execute_sql(db, "SELECT t FROM odd")
    assert result.ok and result.rows == [("\ufffdA",)]


HOSTILE = [
    ("DROP TABLE singer", SQLForbidden),
    ("DELETE FROM singer", SQLForbidden),
    ("UPDATE singer SET name = 'x'", SQLForbidden),
    ("INSERT INTO singer VALUES (9, 'x', 'y', 'z')", SQLForbidden),
    ("REPLACE INTO singer VALUES (1, 'x', 'y', 'z')", SQLForbidden),
    ("CREATE TABLE t (x)", SQLForbidden),
    ("ALTER TABLE singer ADD COLUMN y", SQLForbidden),
    ("ATTACH DATABASE 'other.sqlite' AS other", SQLForbidden),
    ("DETACH DATABASE main", SQLForbidden),
    ("PRAGMA writable_schema = 1", SQLForbidden),
    ("PRAGMA journal_mode = WAL", SQLForbidden),
    ("VACUUM", SQLForbidden),
    ("BEGIN IMMEDIATE", SQLForbidden),
    ("SELECT 1; DROP TABLE singer", SQLForbidden),
    ("SELECT 1; -- harmless\nDELETE FROM singer", SQLForbidden),
    ("WITH x AS (SELECT 1) DELETE FROM singer", SQLForbidden),
    ("CREATE TEMP VIEW v AS SELECT 1", SQLForbidden),
    ("SELECT zeroblob(1000000000)", SQLRuntimeError),
    ("SELECT 1; SELECT 2", SQLForbidden),
    ("SELECT load_extension('/tmp/evil.so')", SQLForbidden),
    ("SELECT * FROM singer WHERE name = load_extension('x')", SQLForbidden),
    ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n", SQLTimeout),
    ("SELECT count(*) FROM singer a, singer b, singer c, singer d, singer e, singer f, singer g, singer h, "
     "singer i, singer j, singer k, singer l, singer m, singer n, singer o, singer p", SQLTimeout),
    (b"SELECT '\xff\xfe'", SQLSyntaxError),
    ("SELECT '\udcff'", SQLSyntaxError),
    ("", SQLSyntaxError),
    ("   \n\t ", SQLSyntaxError),
    (";", SQLSyntaxError),
    ("-- only a comment", SQLSyntaxError),
    (None, SQLSyntaxError),
    ("SELEC name FROM singer", SQLSyntaxError),
    ("SELECT name FROM", SQLSyntaxError),
    ("SELECT nope FROM singer", SQLRuntimeError),
    ("SELECT * FROM no_such_table", SQLRuntimeError),
]


@pytest.mark.parametrize("sql, error", HOSTILE, ids=[repr(h[0])[:40] for h in HOSTILE])
def test_hostile_input_returns_a_typed_error(db, sql, error):
    result = execute_sql(db, sql, timeout_s=0.3)
    assert not result.ok
    assert isinstance(result.error, error), result.error
    assert result.rows == []


def test_hostile_batch_leaves_the_database_and_its_folder_unchanged(db):
    before, listing = file_digest(db), sorted(p.name for p in db.parent.iterdir())
    for sql, _ in HOSTILE:
        execute_sql(db, sql, timeout_s=0.2)
    assert file_digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == listing  # no journal, WAL or attached file


def test_authorizer_and_read_only_mode_hold_when_the_sqlglot_check_is_bypassed(db, monkeypatch):
    # Defence in depth: pretend sqlglot let everything through; SQLite must still refuse.
    monkeypatch.setattr(sqlmod, "check_read_only", lambda sql: None)
    before = file_digest(db)
    for sql in ["DROP TABLE singer", "DELETE FROM singer", "INSERT INTO singer (singer_id) VALUES (7)",
                "ATTACH DATABASE ':memory:' AS other", "PRAGMA writable_schema = 1",
                "SELECT load_extension('x')", "CREATE TEMP TABLE t (x)"]:
        result = execute_sql(db, sql)
        assert not result.ok and isinstance(result.error, SQLForbidden), (sql, result.error)
    assert execute_sql(db, "SELECT count(*) FROM singer").rows == [(3,)]
    assert file_digest(db) == before


def test_timeout_is_prompt(db):
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n"
    result = execute_sql(db, sql, timeout_s=0.2)
    assert isinstance(result.error, SQLTimeout)
    assert result.elapsed_s < 2.0


def test_missing_database_is_a_caller_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        execute_sql(missing, "SELECT 1")
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        execute_sql(missing, "DROP TABLE x")
    assert not missing.exists()  # read-only mode never creates the file


def test_read_schema(db):
    schema = read_schema(db)
    assert schema.db_id == "music"
    assert schema.table_names == ["singer", "concert", "odd"]
    singer = schema.table("singer")
    assert [(c.name, c.type) for c in singer.columns] == [
        ("singer_id", "integer"), ("name", "varchar(20)"), ("country", "text"), ("Home Town", "text")]
    assert singer.primary_key == ("singer_id",)
    assert schema.table("concert").column("untyped").type == "text"
    [fk] = schema.foreign_keys
    assert (fk.table, fk.column, fk.ref_table, fk.ref_column) == ("concert", "singer_id", "singer", "singer_id")
    assert read_schema(db, db_id="other").db_id == "other"


def test_read_schema_on_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="bad.sqlite"):
        read_schema(bad)


@pytest.mark.parametrize("a, b", [
    ("SELECT count(*) FROM singer", "select COUNT(*)   from SINGER"),
    ("SELECT T1.name FROM singer AS T1 WHERE T1.age > 3", "SELECT name FROM singer WHERE age > 3"),
    ("SELECT name FROM singer WHERE a = 1 AND b = 2", "SELECT name FROM singer WHERE b = 2 AND a = 1"),
    ('SELECT name FROM singer WHERE country = "France"', "SELECT name FROM singer WHERE country = 'France'"),
    ("SELECT T2.name FROM concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id",
     "SELECT singer.name FROM concert JOIN singer ON singer.singer_id = concert.singer_id"),
    ("SELECT x FROM t WHERE b = a AND aa = 1 AND (c = 1 AND d = 2)", "SELECT x FROM t WHERE d = 2 AND a = b AND c = 1 AND aa = 1"),
    ("SELECT country, count(*) AS n FROM singer GROUP BY country ORDER BY n DESC",
     "SELECT country, COUNT(*) FROM singer GROUP BY country ORDER BY count(*) DESC"),
])
def test_normalize_sql_equates_surface_variants(a, b):
    assert normalize_sql(a) == normalize_sql(b)


@pytest.mark.parametrize("a, b", [
    ("SELECT name FROM singer WHERE country = 'France'", "SELECT name FROM singer WHERE country = 'france'"),
    ("SELECT name FROM singer WHERE a = 1 OR b = 2", "SELECT name FROM singer WHERE a = 1 AND b = 2"),
    ("SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC"),
    ("SELECT a.name FROM singer AS a JOIN singer AS b ON a.x = b.y", "SELECT b.name FROM singer AS a JOIN singer AS b ON a.x = b.y"),
    # a FROM subquery's column names are read from outside: its aliases stay
    ("SELECT t.n FROM (SELECT count(*) AS n FROM singer) AS t", "SELECT t.n FROM (SELECT count(*) AS m FROM singer) AS t"),
])
def test_normalize_sql_keeps_real_differences(a, b):
    assert normalize_sql(a) != normalize_sql(b)


def test_normalize_sql_rejects_unparsable_text():
    with pytest.raises(SQLSyntaxError):
        normalize_sql("SELECT FROM WHERE")


def test_deep_nesting_is_an_error_not_a_crash(db):
    deep = "SELECT " + "(" * 46 + "1" + ")" * 46
    result = execute_sql(db, deep)
    assert not result.ok and isinstance(result.error, SQLSyntaxError) and "nested deeper" in str(result.error)
    with pytest.raises(SQLSyntaxError, match="nested"):
        normalize_sql(deep)
    from t2sql_lib.evaluate import exact_match

    assert exact_match(deep, "SELECT 1") is False
    assert execute_sql(db, "SELECT " + "(" * sqlmod.MAX_NESTING + "1" + ")" * sqlmod.MAX_NESTING).rows == [(1,)]
    assert sqlmod.nesting_depth("SELECT '(((', \"((\" FROM t WHERE (a = (1))") == 2  # quotes do not count


def test_a_chain_of_thousands_of_terms_is_an_error_not_a_crash(db):
    chain = "SELECT name FROM singer WHERE " + " AND ".join(f"singer_id != {i}" for i in range(3000))
    result = execute_sql(db, chain)
    assert not result.ok and isinstance(result.error, SQLSyntaxError)  # past MAX_SQL_CHARS, or too deep
    with pytest.raises(SQLSyntaxError, match="too deeply|longer than"):
        normalize_sql(chain)
