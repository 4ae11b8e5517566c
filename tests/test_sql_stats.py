"""SQL construct counts and skeletons (t2sql_lib.sql_stats, exported from chapter 0)."""

from __future__ import annotations

import pytest

from t2sql_lib.sql import SQLSyntaxError
from t2sql_lib.sql_stats import CONSTRUCTS, sql_constructs, sql_skeleton


def used(sql: str) -> dict[str, int]:
    return {name: n for name, n in sql_constructs(sql).items() if n}


def test_every_construct_is_reported():
    counts = sql_constructs("SELECT 1")
    assert list(counts) == list(CONSTRUCTS)
    assert not any(counts.values())


def test_plain_clauses():
    sql = ("SELECT DISTINCT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id "
           "WHERE T1.age > 30 OR T1.name LIKE 'A%' GROUP BY T1.name HAVING count(*) > 1 "
           "ORDER BY count(*) DESC LIMIT 3")
    assert used(sql) == {"where": 1, "join": 1, "group_by": 1, "having": 1, "order_by": 1, "limit": 1,
                         "distinct": 1, "aggregate": 3, "like": 1, "or": 1}


def test_joins_are_counted_one_per_joined_table():
    sql = "SELECT a.x FROM a JOIN b ON a.id = b.id JOIN c ON b.id = c.id"
    assert sql_constructs(sql)["join"] == 2
    assert sql_constructs("SELECT a.x FROM a, b")["join"] == 1  # the comma is a join too


def test_nested_queries_in_where_and_from():
    assert used("SELECT name FROM singer WHERE id NOT IN (SELECT singer_id FROM concert)") == {
        "where": 1, "nested": 1, "negation": 1}
    sql = "SELECT * FROM (SELECT a FROM t) WHERE a > (SELECT avg(a) FROM t)"
    assert sql_constructs(sql)["nested"] == 2
    assert sql_constructs(sql)["aggregate"] == 1


def test_set_operation_is_not_nesting():
    for op in ("UNION", "INTERSECT", "EXCEPT"):
        counts = sql_constructs(f"SELECT name FROM a {op} SELECT name FROM b")
        assert counts["set_operation"] == 1 and counts["nested"] == 0, op
    # a set operation inside a subquery: both halves are nested
    counts = sql_constructs("SELECT x FROM t WHERE x IN (SELECT y FROM a UNION SELECT z FROM b)")
    assert counts["set_operation"] == 1 and counts["nested"] == 2


def test_negation_counts_not_and_not_equal():
    assert sql_constructs("SELECT x FROM t WHERE x != 1 AND y NOT LIKE 'a%'")["negation"] == 2


def test_bad_sql_raises():
    with pytest.raises(SQLSyntaxError):
        sql_constructs("SELEC x FRM t")
    with pytest.raises(SQLSyntaxError):
        sql_skeleton("")


def test_skeleton_masks_names_values_and_aliases():
    sql = "SELECT T1.name, count(*) AS n FROM film AS T1 JOIN review AS T2 ON T1.id = T2.film_id WHERE T2.stars >= 4"
    assert sql_skeleton(sql) == "SELECT col, COUNT(*) FROM tab JOIN tab ON col = col WHERE col >= value"


def test_skeleton_reads_double_quoted_values_as_values():
    # Spider writes strings in double quotes; on the value side they are values, elsewhere they are names
    assert sql_skeleton('SELECT name FROM singer WHERE country = "France"') == \
        "SELECT col FROM tab WHERE col = value"
    assert sql_skeleton('SELECT "Home Town" FROM singer WHERE "Home Town" IN ("Paris", "Rome")') == \
        "SELECT col FROM tab WHERE col IN (value, value)"
    assert sql_skeleton('SELECT x FROM t WHERE y BETWEEN "a" AND "b"') == \
        "SELECT col FROM tab WHERE col BETWEEN value AND value"


def test_same_shape_same_skeleton():
    a = "select name from singer where age > 30 order by age desc limit 1"
    b = "SELECT title FROM film WHERE year > 1999 ORDER BY year DESC LIMIT 5"
    assert sql_skeleton(a) == sql_skeleton(b)
    assert sql_skeleton(a) != sql_skeleton("SELECT title FROM film WHERE year < 1999 ORDER BY year DESC LIMIT 5")


def test_skeleton_keeps_nesting_and_set_operations():
    assert sql_skeleton("SELECT a FROM t WHERE b IN (SELECT c FROM u) EXCEPT SELECT a FROM v") == \
        "SELECT col FROM tab WHERE col IN (SELECT col FROM tab) EXCEPT SELECT col FROM tab"


def test_every_spider_dev_query_is_analysed(spider):
    from t2sql_lib.spider import load_spider

    dev = load_spider(spider, split="dev", hardness=False)
    skeletons = set()
    for example in dev:
        counts = sql_constructs(example.sql)
        assert set(counts) == set(CONSTRUCTS)
        skeleton = sql_skeleton(example.sql)
        assert "T1" not in skeleton and "'" not in skeleton, (example.sql, skeleton)
        skeletons.add(skeleton)
    assert len(skeletons) < len(dev)  # many questions share a shape
