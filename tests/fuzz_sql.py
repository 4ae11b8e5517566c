"""Hostile and malformed SQL from a small grammar, and a harness that runs it through the executor and metrics.

Shared by ``tests/test_fuzz_executor.py`` (a few hundred cases) and ``benchmarks/bench_fuzz_executor.py``
(10,000). Standard-library ``random`` only: the same seed gives the same cases.

Each case is ``str`` or ``bytes`` (invalid UTF-8 comes as bytes, lone surrogates as str). The families:
grammar queries (joins, subqueries, set operations, CTEs) and their mutations, deep nesting, huge literals and
values, writes, pragmas, ATTACH / VACUUM INTO a file, comments, NULs, bad UTF-8, random bytes, several
statements, forbidden or slow functions, and queries that never end.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

TABLES = {"singer": ["singer_id", "name", "country", "age"], "concert": ["concert_id", "singer_id", "year", "venue"]}


def make_db(path: Path) -> Path:
    """The database every case runs on: two related tables with a few rows."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE singer (singer_id integer PRIMARY KEY, name text, country text, age integer);
        CREATE TABLE concert (concert_id integer PRIMARY KEY, singer_id integer REFERENCES singer(singer_id),
                              year integer, venue text);
        INSERT INTO singer VALUES (1, 'Joe', 'France', 52), (2, 'Ana', 'Spain', 31), (3, 'Li', 'France', 45);
        INSERT INTO concert VALUES (10, 1, 2014, 'Arena'), (11, 1, 2015, 'Hall'), (12, 3, 2015, 'Park');
    """)
    con.commit()
    con.close()
    return path


def make_spider_folder(root: Path, n_questions: int) -> Path:
    """A Spider-format folder on ``make_db``'s database, with ``n_questions`` dev questions."""
    (root / "database" / "music").mkdir(parents=True)
    make_db(root / "database" / "music" / "music.sqlite")
    columns = [[-1, "*"]] + [[t, c] for t, (_, cols) in enumerate(TABLES.items()) for c in cols]
    tables = [{"db_id": "music", "table_names_original": list(TABLES), "table_names": list(TABLES),
               "column_names_original": columns, "column_names": columns,
               "column_types": ["text"] + ["text"] * (len(columns) - 1), "primary_keys": [1, 5],
               "foreign_keys": [[6, 1]]}]
    (root / "tables.json").write_text(json.dumps(tables), encoding="utf-8")
    gold = ["SELECT count(*) FROM singer", "SELECT name FROM singer WHERE age > 40 ORDER BY name",
            "SELECT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
            "GROUP BY T1.name", "SELECT DISTINCT country FROM singer"]
    dev = [{"db_id": "music", "question": f"q{i}", "query": gold[i % len(gold)]} for i in range(n_questions)]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    return root


# ---------------------------------------------------------------------------------------------------------
# The grammar


class Grammar:
    """Generates cases from ``random.Random(seed)``; ``scratch`` is where ATTACH / VACUUM INTO point."""

    def __init__(self, seed: int, scratch: Path):
        self.r = random.Random(seed)
        self.scratch = scratch
        self.families = [
            (self.query, 14), (self.mutated, 12), (self.nesting, 6), (self.huge_literal, 7), (self.big_value, 6),
            (self.write, 8), (self.pragma, 6), (self.attach, 5), (self.comment, 6), (self.nul, 4),
            (self.bad_utf8, 5), (self.random_bytes, 4), (self.multi, 5), (self.function, 6), (self.endless, 3),
        ]

    def case(self) -> tuple[str, str | bytes]:
        """One case: its family's name and its SQL."""
        make = self.r.choices([f for f, _ in self.families], weights=[w for _, w in self.families])[0]
        return make.__name__, make()

    # --- pieces of well-formed queries
    def table(self) -> str:
        return self.r.choice(list(TABLES))

    def column(self, table: str | None = None) -> str:
        table = table or self.table()
        return self.r.choice(TABLES[table] + ["nope", "rowid", '"name"', "`age`", "[year]"])

    def literal(self) -> str:
        return self.r.choice(["1", "0", "-7", "3.5", "'France'", '"Spain"', "NULL", "x'00ff'", "1e308", "''",
                              "'it''s'", "9223372036854775807", "-9223372036854775808", "CURRENT_DATE"])

    def expr(self, depth: int = 0) -> str:
        r = self.r
        if depth > 3 or r.random() < 0.4:
            return r.choice([self.column(), self.literal()])
        kind = r.randrange(7)
        if kind == 0:
            return f"{self.expr(depth + 1)} {r.choice(['+', '-', '*', '/', '%', '||', '<<', '&'])} {self.expr(depth + 1)}"
        if kind == 1:
            return f"{r.choice(['count', 'sum', 'avg', 'max', 'min', 'abs', 'length', 'upper', 'typeof'])}" \
                   f"({self.expr(depth + 1)})"
        if kind == 2:
            return f"CASE WHEN {self.cond(depth + 1)} THEN {self.expr(depth + 1)} ELSE {self.expr(depth + 1)} END"
        if kind == 3:
            return f"({self.select(depth + 1)})"
        if kind == 4:
            return f"CAST({self.expr(depth + 1)} AS {r.choice(['int', 'text', 'real', 'blob'])})"
        if kind == 5:
            return "count(*)"
        return f"({self.expr(depth + 1)})"

    def cond(self, depth: int = 0) -> str:
        r = self.r
        kind = r.randrange(6)
        if kind == 0 and depth < 3:
            return f"{self.cond(depth + 1)} {r.choice(['AND', 'OR'])} {self.cond(depth + 1)}"
        if kind == 1:
            return f"{self.column()} IN ({self.select(depth + 1) if depth < 3 else self.literal()})"
        if kind == 2:
            return f"{self.column()} LIKE '{r.choice(['%a%', '_', '%%%%', '[a-z]', '%'])}'"
        if kind == 3:
            return f"{self.column()} BETWEEN {self.literal()} AND {self.literal()}"
        if kind == 4:
            return f"NOT EXISTS ({self.select(depth + 1)})" if depth < 3 else f"{self.column()} IS NULL"
        return f"{self.expr(depth + 1)} {r.choice(['=', '!=', '<>', '>', '<=', '==', 'IS', 'IS NOT'])} {self.literal()}"

    def select(self, depth: int = 0) -> str:
        r = self.r
        table = self.table()
        items = ", ".join(self.expr(depth + 1) for _ in range(r.randint(1, 3))) if r.random() < 0.8 else "*"
        sql = f"SELECT {r.choice(['', 'DISTINCT '])}{items} FROM {table}"
        if r.random() < 0.3:
            sql += f" AS T1 JOIN {self.table()} AS T2 ON T1.singer_id = T2.singer_id"
        if r.random() < 0.5:
            sql += f" WHERE {self.cond(depth + 1)}"
        if r.random() < 0.2:
            sql += f" GROUP BY {self.column(table)} HAVING count(*) > {r.randint(0, 3)}"
        if r.random() < 0.3:
            sql += f" ORDER BY {self.column(table)} {r.choice(['ASC', 'DESC', ''])}"
        if r.random() < 0.3:
            sql += f" LIMIT {r.choice(['1', '0', '-1', '10 OFFSET 1', '1e9', 'NULL'])}"
        return sql

    def query(self) -> str:
        r = self.r
        sql = self.select()
        if r.random() < 0.2:
            sql += f" {r.choice(['UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT'])} {self.select()}"
        if r.random() < 0.15:
            sql = f"WITH c AS ({self.select()}) {sql}"
        return sql + r.choice(["", ";", " ;; ", "\n"])

    # --- the hostile families
    def mutated(self) -> str:
        """A grammar query cut, doubled, with a character or keyword dropped in or taken out."""
        r, sql = self.r, self.query()
        for _ in range(r.randint(1, 4)):
            i = r.randrange(len(sql) + 1)
            op = r.randrange(6)
            if op == 0:
                sql = sql[:i]
            elif op == 1:
                sql = sql[:i] + r.choice("()'\"`[];,*%\\\n\t\x00\u00e9\u2028") + sql[i:]
            elif op == 2:
                sql = sql[:i] + sql[i + r.randint(1, 8):]
            elif op == 3:
                sql = sql[:i] + r.choice([" SELECT ", " FROM ", " WHERE ", " ) ", " ( ", " UNION ", " ORDER BY "]) + sql[i:]
            elif op == 4:
                sql = sql + sql
            else:
                sql = sql.swapcase()
        return sql

    def nesting(self) -> str:
        r = self.r
        k = r.choice([r.randint(1, 30), r.randint(20, 60), r.randint(60, 3000)])
        shape = r.randrange(4)
        if shape == 0:
            return "SELECT " + "(" * k + "1" + ")" * k
        if shape == 1:
            return "SELECT * FROM singer WHERE " + "NOT " * k + "1"
        if shape == 2:
            inner = "SELECT 1"
            for _ in range(min(k, 200)):
                inner = f"SELECT * FROM ({inner})"
            return inner
        return "SELECT " + "(" * k + "1"  # unbalanced

    def huge_literal(self) -> str:
        r = self.r
        n = r.choice([100, 5_000, 9_000, 20_000, 200_000, 1_000_000])
        kind = r.randrange(6)
        if kind == 0:
            return f"SELECT '{'x' * n}'"
        if kind == 1:
            return "SELECT " + "9" * n
        if kind == 2:
            return f"SELECT x'{'ab' * (n // 2)}'"
        if kind == 3:
            return "SELECT name FROM singer WHERE age IN (" + ",".join(["123456"] * (n // 7 + 1)) + ")"
        if kind == 4:
            return "SELECT " + " + ".join(["1"] * (n // 4 + 1))
        return "SELECT name FROM singer WHERE name = '" + "\u00e9" * (n // 2) + "'"

    def big_value(self) -> str:
        r = self.r
        n = r.choice(["1e4", "99999", "1e5", "1e6", "4e7", "1e9", "-1", "9e18"])
        return r.choice([
            f"SELECT zeroblob({n})", f"SELECT randomblob({n})", f"SELECT hex(zeroblob({n}))",
            f"SELECT length(printf('%.*c', {n}, 'x'))", f"SELECT instr(hex(zeroblob({n})), hex(zeroblob(5e4)) || '1')",
            f"SELECT replace(hex(zeroblob({n})), '0', '00')",
            f"SELECT hex(zeroblob({n})) LIKE '%' || hex(zeroblob(400)) || '1%'",
            f"SELECT group_concat(hex(zeroblob({n}))) FROM singer",
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT zeroblob({n}) FROM n",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
            "SELECT i, hex(zeroblob(40000)) FROM n",
            f"SELECT trim(hex(zeroblob({n})), replace(hex(zeroblob(20000)), '0', 'a') || '0')",
            f"SELECT * FROM singer ORDER BY hex(zeroblob({n}))",
        ])

    def write(self) -> str:
        r = self.r
        stmt = r.choice([
            "INSERT INTO singer VALUES (9, 'x', 'y', 1)", "UPDATE singer SET age = 0", "DELETE FROM singer",
            "DROP TABLE singer", "CREATE TABLE t (x)", "CREATE TEMP TABLE t AS SELECT 1", "ALTER TABLE singer ADD c",
            "REPLACE INTO singer VALUES (1, 'a', 'b', 2)", "VACUUM", "REINDEX", "ANALYZE", "BEGIN", "COMMIT",
            "CREATE INDEX i ON singer(name)", "CREATE VIEW v AS SELECT 1", "CREATE TRIGGER tr AFTER INSERT ON "
            "singer BEGIN DELETE FROM concert; END", "INSERT INTO singer SELECT * FROM singer",
            "SAVEPOINT a", "RELEASE a", "ROLLBACK", "UPSERT", "CREATE VIRTUAL TABLE f USING fts5(x)",
        ])
        shape = r.randrange(4)
        if shape == 0:
            return stmt
        if shape == 1:
            return f"WITH c AS (SELECT 1) {stmt}"
        if shape == 2:
            return f"{stmt} RETURNING *"
        return stmt.lower()

    def pragma(self) -> str:
        r = self.r
        name = r.choice(["writable_schema", "journal_mode", "user_version", "table_info", "query_only",
                         "temp_store_directory", "cache_size", "foreign_keys", "integrity_check", "database_list"])
        return r.choice([f"PRAGMA {name}", f"PRAGMA {name} = 1", f"PRAGMA {name}('singer')",
                         f"SELECT * FROM pragma_{name}", f"SELECT * FROM pragma_{name}('singer')",
                         "SELECT name FROM pragma_table_info('singer') WHERE 1", f"pragma main.{name}=WAL"])

    def attach(self) -> str:
        target = (self.scratch / f"evil{self.r.randrange(5)}.db").as_posix().replace("'", "''")
        return self.r.choice([f"ATTACH DATABASE '{target}' AS evil", f"ATTACH '{target}' AS e; SELECT 1",
                              "ATTACH ':memory:' AS m", f"VACUUM INTO '{target}'", "DETACH DATABASE main",
                              f"SELECT * FROM singer; ATTACH '{target}' AS x",
                              f"SELECT 1 FROM singer WHERE 1 = (ATTACH '{target}' AS x)",
                              f"SELECT writefile('{target}', 'x')", f"SELECT readfile('{target}')",
                              f"SELECT load_extension('{target}')"])

    def comment(self) -> str:
        r = self.r
        return r.choice([
            "-- only a comment", "/* unterminated", "SELECT 1 /* inner /* nested */ */", "SELECT 1 -- ; DROP TABLE singer",
            "/* ; */ SELECT 1 /* ; */", "SELECT 1 /*", "SELECT /**/ name /**/ FROM /**/ singer",
            "SELECT 1; -- DROP TABLE singer", "--\nSELECT 1", "SELECT '--' || name FROM singer",
            "SELECT 1 /* */; /* */ DROP TABLE singer", "# hash comment\nSELECT 1", "SELECT 1 */",
        ]) + r.choice(["", "\n", " ", ";"])

    def nul(self) -> str:
        sql = self.query()
        i = self.r.randrange(len(sql) + 1)
        return sql[:i] + "\x00" * self.r.randint(1, 3) + sql[i:]

    def bad_utf8(self) -> str | bytes:
        r = self.r
        sql = self.query()
        if r.random() < 0.3:
            i = r.randrange(len(sql) + 1)
            return sql[:i] + r.choice(["\ud800", "\udfff", "\udc80"]) + sql[i:]  # lone surrogates
        raw = sql.encode("utf-8")
        i = r.randrange(len(raw) + 1)
        return raw[:i] + r.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\x80\x80", b"\xf8\x88\x80\x80\x80",
                                   b"\xed\xa0\x80"]) + raw[i:]

    def random_bytes(self) -> str | bytes:
        r = self.r
        n = r.choice([0, 1, 5, 50, 500])
        if r.random() < 0.5:
            return bytes(r.randrange(256) for _ in range(n))
        return "".join(r.choice("SELECT FROM WHERE ()'\";*,.=<>!-+/%\x00\t\n abc123") for _ in range(n))

    def multi(self) -> str:
        r = self.r
        return r.choice([f"{self.query().rstrip(';')}; {self.write()}", f"{self.select()}; {self.select()}",
                         f"{self.write()}; {self.select()}", "SELECT 1;;;;", ";;", ";", "", "   ",
                         f"{self.select()}\x00; DROP TABLE singer"])

    def function(self) -> str:
        r = self.r
        return r.choice([
            "SELECT load_extension('/lib/x.so')", "SELECT fts3_tokenizer('simple')", "SELECT edit('x')",
            "SELECT sqlite_version()", "SELECT random()", "SELECT abs(-9223372036854775808)",
            "SELECT 1 / 0", "SELECT json_extract('{\"a\": [1,2]}', '$.a[1]')", "SELECT unicode(char(0))",
            "SELECT printf('%s%s%s%n', 1)", "SELECT substr(name, -1e18, 1e18) FROM singer",
            "SELECT likelihood(1, 2)", "SELECT nosuchfunction(1)", "SELECT count(DISTINCT *) FROM singer",
            "SELECT * FROM json_each('[' || replace(hex(zeroblob(1e4)), '00', '1,') || '1]')",
            "SELECT sqlite_compileoption_get(0)", "SELECT quote(randomblob(10))",
            "SELECT name FROM singer WHERE name GLOB '" + "*a" * r.randint(1, 600) + "'",
            "SELECT name FROM singer WHERE name LIKE '" + "%_" * r.randint(1, 600) + "'",
        ])

    def endless(self) -> str:
        return self.r.choice([
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n a, n b",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3e6) "
            "SELECT count(DISTINCT hex(x)) FROM n",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 2e6) SELECT x FROM n ORDER BY "
            "random()",
            "SELECT count(*) FROM singer a, singer b, singer c, singer d, singer e, singer f, singer g, singer h, "
            "singer i, singer j, singer k, singer l, singer m, singer n, singer o",
        ])


# ---------------------------------------------------------------------------------------------------------
# The harness


@dataclass
class FuzzStats:
    """What a fuzz run found."""

    cases: int = 0
    exceptions: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    worst_timeout_ratio: float = 0.0  # wall time / limit, over the cases that timed out
    worst_ratio: float = 0.0  # wall time / limit, over every case
    timeouts: int = 0
    by_family: dict[str, int] = field(default_factory=dict)
    slowest: str = ""  # the family and start of the case with the worst ratio

    def summary(self) -> str:
        return (f"cases run: {self.cases}\nexceptions: {len(self.exceptions)}\n"
                f"files changed: {len(self.files_changed)}\nworst timeout ratio: {self.worst_timeout_ratio:.2f} "
                f"({self.timeouts} timeouts; worst ratio of any case {self.worst_ratio:.2f}: {self.slowest})")


def snapshot(folders: list[Path]) -> dict[str, str]:
    """Every file under ``folders`` with the SHA-256 of its bytes."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def run_cases(db: Path, cases: list[tuple[str, str | bytes]], timeout_s: float, stats: FuzzStats,
              spider_schema=None) -> None:
    """Each case through ``execute_sql``, ``exact_match`` (normalised string) and, with a schema, Spider's
    exact set match; exceptions and time ratios go to ``stats``."""
    from t2sql_lib.evaluate import exact_match
    from t2sql_lib.spider_match import exact_set_match
    from t2sql_lib.sql import SQLTimeout, execute_sql

    gold = "SELECT name FROM singer WHERE age > 40"
    for family, sql in cases:
        stats.cases += 1
        stats.by_family[family] = stats.by_family.get(family, 0) + 1
        try:
            start = time.perf_counter()
            result = execute_sql(db, sql, timeout_s=timeout_s)
            ratio = (time.perf_counter() - start) / timeout_s
            if ratio > stats.worst_ratio:
                stats.worst_ratio, stats.slowest = ratio, f"{family} {str(sql)[:70]!r}"
            if isinstance(result.error, SQLTimeout):
                stats.timeouts += 1
                stats.worst_timeout_ratio = max(stats.worst_timeout_ratio, ratio)
            if isinstance(sql, str):
                exact_match(sql, gold)
                exact_match(gold, sql)
                if spider_schema is not None:
                    exact_set_match(sql, gold, spider_schema)
        except Exception:  # noqa: BLE001 - the point: nothing may escape
            stats.exceptions.append(f"{family} {str(sql)[:80]!r}: {traceback.format_exc(limit=3)}")


def eval_lines(cases: list[tuple[str, str | bytes]]) -> list[str]:
    """The str cases as one-line predictions (line breaks of every kind made spaces)."""
    out = []
    for _, sql in cases:
        if isinstance(sql, str):
            try:
                sql.encode("utf-8")
            except UnicodeEncodeError:
                continue
            out.append(" ".join(sql.splitlines()).replace("\t", " "))  # a tab would start a db_id
    return out
