"""Safe execution of generated SQL, schema reading from SQLite files, and sqlglot normalisation.

The model writes SQL that runs on somebody's database, so ``execute_sql`` trusts nothing:

1. the text must parse (sqlglot, SQLite dialect) as exactly one ``SELECT``/``WITH``/``VALUES`` query;
2. the database is opened read-only (URI ``mode=ro``), so SQLite itself refuses every write;
3. an authorizer allows only reads, so ``ATTACH``, pragmas and pragma functions (``pragma_table_info``),
   ``load_extension``, ``printf`` and anything sqlglot missed are denied again while SQLite compiles the statement;
4. one time limit covers parsing and running: a watchdog timer interrupts the connection
   (``sqlite3.Connection.interrupt``) and a progress handler checks the clock between VM steps; the input
   length, each string or blob value and the result (rows and bytes) are capped, so that no single call
   (``instr``, ``replace``, ``LIKE`` on huge operands) or result runs long or fills memory.

Model output never raises: failures come back as an ``ExecResult`` whose ``error`` is one of
``SQLSyntaxError``, ``SQLForbidden``, ``SQLTimeout`` or ``SQLRuntimeError``.

>>> import sqlite3, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "demo.sqlite")
>>> con = sqlite3.connect(path); _ = con.execute("CREATE TABLE t (x integer)"); con.commit(); con.close()
>>> execute_sql(path, "SELECT 1 + 1").rows
[(2,)]
>>> type(execute_sql(path, "DROP TABLE t").error).__name__
'SQLForbidden'
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.request import pathname2url

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .schema import Column, ForeignKey, Schema, Table

DIALECT = "sqlite"


class _QuietCommandFallback(logging.Filter):
    """Drops sqlglot's warning that it read a statement as a raw command: for model output that is a refused
    statement (SQLForbidden), and one warning per hostile prediction would bury ``t2sql eval``'s output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_QuietCommandFallback())


class SQLError(Exception):
    """Base class of the errors ``execute_sql`` reports (returned in ``ExecResult.error``, not raised)."""


class SQLSyntaxError(SQLError):
    """The text is not one well-formed SQL statement (empty, unparsable, invalid UTF-8...)."""


class SQLForbidden(SQLError):
    """The statement would write, attach, load an extension or do anything but read."""


class SQLTimeout(SQLError):
    """The query ran past its time limit and was interrupted."""


class SQLRuntimeError(SQLError):
    """SQLite refused or failed the query (unknown table or column, type error, ...)."""


@dataclass
class ExecResult:
    """What ``execute_sql`` returns: rows and column names, or a typed error."""

    ok: bool
    rows: list[tuple] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: SQLError | None = None
    truncated: bool = False  # True when rows were left out: more than max_rows, or more than max_bytes of values
    elapsed_s: float = 0.0


# ---------------------------------------------------------------------------------------------------------
# Static check with sqlglot

# Functions that reach outside the database, and printf()/format(), whose "%.*c" with a precision of 2e9 runs
# for 20 s inside one VM step, past any time limit (no Spider query uses them). SQLite's authorizer denies them
# again at compile time.
FORBIDDEN_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                                 "printf", "format"})
# Table-valued pragma functions (``FROM pragma_table_info('t')``) are refused: a query reads tables, and the
# prompt already carries the schema. SQLite's authorizer refuses them again (it allows no SQLITE_PRAGMA).
PRAGMA_FUNCTION_PREFIX = "pragma_"
_READ_ONLY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery)
_STATEMENTS = (exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Alter, exp.Attach, exp.Detach,
               exp.Pragma, exp.Command, exp.Merge, exp.Transaction, exp.Commit, exp.Rollback, exp.Use,
               exp.Set, exp.Analyze, exp.TruncateTable, exp.Copy, exp.LoadData)


def _as_text(sql: str | bytes | None) -> str:
    """The SQL as a str that SQLite can encode; SQLSyntaxError for None, invalid UTF-8 or lone surrogates."""
    if sql is None:
        raise SQLSyntaxError("no SQL (None)")
    if isinstance(sql, (bytes, bytearray)):
        try:
            sql = bytes(sql).decode("utf-8")
        except UnicodeDecodeError as err:
            raise SQLSyntaxError(f"SQL is not valid UTF-8: {err}") from None
    if not isinstance(sql, str):
        raise SQLSyntaxError(f"SQL must be a string, got {type(sql).__name__}")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as err:  # lone surrogates, e.g. from bytes decoded with surrogateescape
        raise SQLSyntaxError(f"SQL is not valid UTF-8: {err}") from None
    return sql


# Deeper nesting than any real query: sqlglot's recursive parser exhausts Python's stack near 46 parentheses.
MAX_NESTING = 24
# Longer than any real query (Spider's longest gold query is under 1,000 characters, a model's output is bounded by
# its context); sqlglot parses 10,000 hostile characters in well under 0.1 s, so parsing stays inside a time limit.
MAX_SQL_CHARS = 10_000
# The largest string or blob one value (or one sorted row) may hold. SQLite's instr(), replace() and LIKE take time
# proportional to the product of their operands' lengths in one VM step that no interrupt can stop: at 1 MB one
# call runs for seconds, at 100 kB for milliseconds. A stored value past it reads as a SQLRuntimeError.
MAX_VALUE_BYTES = 100_000
MAX_LIKE_PATTERN = 1_000  # characters in a LIKE/GLOB pattern (SQLite's default is 50,000)
MAX_RESULT_BYTES = 10_000_000  # default byte cap of a result: the text and blob bytes, 8 per other value


def nesting_depth(text: str) -> int:
    """The deepest level of parentheses in ``text``, outside quoted strings and names."""
    depth = deepest = 0
    for piece in re.split(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])""", text)[::2]:
        for ch in piece:
            if ch == "(":
                depth += 1
                deepest = max(deepest, depth)
            elif ch == ")":
                depth = max(0, depth - 1)
    return deepest


# Texts longer than this are parsed afresh each time: caching their large trees would keep thousands of nodes
# alive per entry, and Python's garbage collector, walking them all, pauses for seconds in a long fuzz run.
CACHED_PARSE_CHARS = 2_000


@lru_cache(maxsize=8192)
def _parse_statements(sql: str) -> tuple[exp.Expression | None, ...]:
    """sqlglot's parse of ``sql`` (cached: evaluation parses the same gold query several times)."""
    return tuple(sqlglot.parse(sql, read=DIALECT))


def _parse_uncached(sql: str) -> tuple[exp.Expression | None, ...]:
    return tuple(sqlglot.parse(sql, read=DIALECT))


def parse_sql(sql: str) -> exp.Expression:
    """Parse one SQLite statement with sqlglot; SQLSyntaxError when it is empty, bad, or several statements.

    The tree is a copy: callers may transform it freely.
    """
    text = _as_text(sql)
    if len(text) > MAX_SQL_CHARS:
        raise SQLSyntaxError(f"SQL longer than {MAX_SQL_CHARS:,} characters ({len(text):,})")
    if not text.strip() or not text.strip().strip(";").strip():
        raise SQLSyntaxError("empty SQL")
    if nesting_depth(text) > MAX_NESTING:
        raise SQLSyntaxError(f"nested deeper than {MAX_NESTING} parentheses")
    try:
        # None and Semicolon nodes are empty statements or lone comments, not statements that would run.
        parsed = _parse_statements(text) if len(text) <= CACHED_PARSE_CHARS else _parse_uncached(text)
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
        if len(statements) == 1:
            return statements[0].copy()
    except (ParseError, TokenError) as err:
        raise SQLSyntaxError(f"cannot parse SQL: {str(err).splitlines()[0]}") from None
    except RecursionError:  # a tree too deep for Python's stack in another way (a chain of thousands of terms)
        raise SQLSyntaxError("SQL nested too deeply to parse") from None
    if not statements:  # only comments or semicolons
        raise SQLSyntaxError("no SQL statement")
    raise SQLForbidden(f"exactly one statement is allowed, got {len(statements)}")


def check_read_only(sql: str) -> exp.Expression:
    """Return the parsed statement when it is one read-only query, else raise SQLSyntaxError/SQLForbidden."""
    tree = parse_sql(sql)
    if not isinstance(tree, _READ_ONLY_ROOTS):
        if isinstance(tree, _STATEMENTS):
            raise SQLForbidden(f"only SELECT/WITH queries may run, got {tree.key.upper()}")
        # sqlglot reads a lone word or expression ("selec x") as an expression, not a statement.
        raise SQLSyntaxError(f"not a SQL statement: {tree.sql(dialect=DIALECT)[:60]!r}")
    for node in tree.walk():
        # A WITH may hold a data-modifying statement in other dialects; these nodes are writes anywhere.
        if isinstance(node, _STATEMENTS):
            raise SQLForbidden(f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS:
                raise SQLForbidden(f"function {name}() is not allowed")
            if name.startswith(PRAGMA_FUNCTION_PREFIX):
                raise SQLForbidden(f"pragma function {name}() is not allowed")
    return tree


# ---------------------------------------------------------------------------------------------------------
# Execution

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
    """Allow reads and function calls only; everything else (writes, ATTACH, pragmas and pragma functions such
    as ``pragma_table_info``, which SQLite reports as SQLITE_PRAGMA) is denied."""
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        # For SQLITE_FUNCTION, arg2 is the function's name.
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in FORBIDDEN_FUNCTIONS else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _decode_text(raw: bytes) -> str:
    # Some Spider databases hold Latin-1 bytes in TEXT columns; decode leniently rather than fail.
    return raw.decode("utf-8", errors="replace")


def connect_read_only(db_path: str | Path) -> sqlite3.Connection:
    """Open ``db_path`` read-only through a ``file:...?mode=ro`` URI (FileNotFoundError when it is absent).

    This is the bare connection, without the authorizer and time limit that ``execute_sql`` adds: use it
    for the project's own queries (schema reading), never for model output.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"no SQLite database at {db_path}")
    uri = f"file:{pathname2url(str(db_path.resolve()))}?mode=ro"
    con = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    con.text_factory = _decode_text
    if hasattr(con, "setlimit"):  # Python 3.11+
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 50_000_000)  # one value (string/blob) at most 50 MB
    return con


def _limit_model_connection(con: sqlite3.Connection) -> None:
    """The tighter limits of ``execute_sql``: small values, short statements and LIKE patterns (see MAX_*).

    ``Connection.setlimit`` came in Python 3.11: on 3.10 these limits are SQLite's defaults, and one call on
    megabyte values can run past the time limit.
    """
    if not hasattr(con, "setlimit"):
        return
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)  # one string/blob value, or one sorted row
    con.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 4 * MAX_SQL_CHARS)  # bytes of UTF-8
    con.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)


_SYNTAX_MARKERS = ("syntax error", "incomplete input", "unrecognized token")


def check_limits(timeout_s: float, max_rows: int, max_bytes: int) -> None:
    """ValueError unless the time limit is a positive number of seconds (``inf``: none) and the caps are >= 0."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or math.isnan(timeout_s) \
            or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    for name, value in (("max_rows", max_rows), ("max_bytes", max_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")


class _Watchdog:
    """Interrupts a connection at a deadline, from a timer thread and from SQLite's progress handler.

    The timer catches a statement that spends long between VM steps (a sort, a slow function); the progress
    handler, called every few hundred VM steps, catches the rest without waiting for a thread to be scheduled.
    """

    def __init__(self, con: sqlite3.Connection, deadline: float):
        self.con, self.deadline, self.fired = con, deadline, False
        self._lock = threading.Lock()
        self._closed = False
        remaining = deadline - time.perf_counter()
        self._timer = threading.Timer(max(remaining, 0.0), self._interrupt) if math.isfinite(remaining) else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        con.set_progress_handler(self._progress, 200)

    def _interrupt(self) -> None:
        with self._lock:
            if not self._closed:  # never touch a connection that execute_sql has closed
                self.fired = True
                self.con.interrupt()

    def _progress(self) -> int:
        if time.perf_counter() > self.deadline:
            self.fired = True
            return 1  # non-zero interrupts the running statement
        return 0

    def close(self) -> None:
        """Stop the timer, then close the connection."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self.con.close()


def _classify(err: Exception, timed_out: bool, timeout_s: float) -> SQLError:
    """The typed error for an exception SQLite (or Python's sqlite3) raised while running a query."""
    message = str(err)
    if timed_out or "interrupted" in message:
        return SQLTimeout(f"query stopped after {timeout_s:g} s")
    if not isinstance(err, (sqlite3.Error, sqlite3.Warning)):  # ValueError, OverflowError, MemoryError
        return SQLRuntimeError(message or type(err).__name__)
    if "not authorized" in message or "readonly database" in message:
        return SQLForbidden(f"SQLite denied the statement: {message}")
    if any(marker in message for marker in _SYNTAX_MARKERS):
        return SQLSyntaxError(message)
    if isinstance(err, sqlite3.ProgrammingError) and "one statement" in message:
        return SQLForbidden(message)
    if "too big" in message:
        return SQLRuntimeError(f"{message} (a value, or a sorted row, may hold at most {MAX_VALUE_BYTES:,} bytes)")
    return SQLRuntimeError(message)


def _value_bytes(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return 8


def _fetch(cur: sqlite3.Cursor, max_rows: int, max_bytes: int) -> tuple[list[tuple], bool]:
    """Up to ``max_rows`` rows holding at most ``max_bytes`` bytes of values, and whether any were left out.

    Rows are read one at a time, so at most one row past a cap is ever converted to Python values.
    """
    rows: list[tuple] = []
    size = 0
    for row in cur:
        size += sum(_value_bytes(v) for v in row)
        if len(rows) >= max_rows or size > max_bytes:
            return rows, True
        rows.append(tuple(row))
    return rows, False


def execute_sql(db_path: str | Path, sql: str | bytes, timeout_s: float = 5.0,
                max_rows: int = 10_000, max_bytes: int = MAX_RESULT_BYTES) -> ExecResult:
    """Run one read-only query on ``db_path`` safely and return its rows or a typed error; never raises for ``sql``.

    >>> result = execute_sql("concert_singer.sqlite", "SELECT count(*) FROM singer")  # doctest: +SKIP
    >>> result.ok, result.rows, result.columns  # doctest: +SKIP
    (True, [(6,)], ['count(*)'])

    ``timeout_s`` covers parsing and running; ``inf`` means no limit. At most ``max_rows`` rows and ``max_bytes``
    bytes of values come back (``truncated`` says when some were left out). A missing database file, a time
    limit that is not a positive number or a negative cap is the caller's mistake, not the model's: it raises
    FileNotFoundError or ValueError.
    """
    start = time.perf_counter()
    check_limits(timeout_s, max_rows, max_bytes)
    db_path = Path(db_path)
    deadline = start + timeout_s
    try:
        text = _as_text(sql)
        check_read_only(text)
        # sqlglot found one statement; extra trailing semicolons would make Python's sqlite3 see a second.
        text = text.rstrip().rstrip(";").rstrip() or text
        if time.perf_counter() > deadline:
            raise SQLTimeout(f"query stopped after {timeout_s:g} s (while parsing)")
    except SQLError as err:
        if not db_path.is_file():
            raise FileNotFoundError(f"no SQLite database at {db_path}") from None
        return ExecResult(ok=False, error=err, elapsed_s=time.perf_counter() - start)

    con = connect_read_only(db_path)
    _limit_model_connection(con)
    con.set_authorizer(_authorizer)
    watchdog = _Watchdog(con, deadline)
    try:
        cur = con.execute(text)
        columns = [d[0] for d in cur.description or ()]
        rows, truncated = _fetch(cur, max_rows, max_bytes)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as err:
        # ValueError/OverflowError: e.g. an integer too large for Python's sqlite3
        return ExecResult(ok=False, error=_classify(err, watchdog.fired, timeout_s),
                          elapsed_s=time.perf_counter() - start)
    finally:
        watchdog.close()
    return ExecResult(ok=True, rows=rows, columns=columns, truncated=truncated,
                      elapsed_s=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------
# Reading a schema from a database file

def read_schema(db_path: str | Path, db_id: str | None = None) -> Schema:
    """The ``Schema`` of a SQLite file: tables, columns with declared types, primary and foreign keys.

    Types are the declared ones, lower-cased (``varchar(20)``, ``integer``...); a column with no declared
    type reads as ``text``. ``db_id`` defaults to the file name without its suffix.
    """
    db_path = Path(db_path)
    con = connect_read_only(db_path)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        tables, fks = [], []
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            info = con.execute(f"PRAGMA table_info({quoted})").fetchall()
            columns = tuple(Column(name=row[1], type=" ".join((row[2] or "text").lower().split())) for row in info)
            pk = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            tables.append(Table(name=name, columns=columns, primary_key=pk))
            for row in con.execute(f"PRAGMA foreign_key_list({quoted})").fetchall():
                ref_table, from_col, to_col = row[2], row[3], row[4]
                if to_col is None:  # "REFERENCES t" without a column means t's primary key
                    ref_info = con.execute(f"PRAGMA table_info(\"{ref_table.replace(chr(34), chr(34) * 2)}\")")
                    ref_pk = [r[1] for r in ref_info if r[5]]
                    to_col = ref_pk[0] if ref_pk else "rowid"
                fks.append(ForeignKey(table=name, column=from_col, ref_table=ref_table, ref_column=to_col))
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{db_path}: cannot read the schema: {err}") from err
    finally:
        con.close()
    return Schema(db_id=db_id or db_path.stem, tables=tuple(tables), foreign_keys=tuple(fks))


# ---------------------------------------------------------------------------------------------------------
# Normalisation for exact match

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)
_SYMMETRIC = (exp.EQ, exp.NEQ)


def _quoted_value_to_string(node: exp.Expression) -> exp.Expression:
    """Turn a double-quoted "identifier" used as a value into a string literal.

    SQLite reads ``name = "Bob"`` as the string 'Bob' when no column is called Bob, and Spider's gold SQL
    relies on it; without the schema we treat a quoted, unqualified name on the value side of a comparison
    (or in an IN list / BETWEEN bound) as a string.
    """
    def fix(value: exp.Expression) -> exp.Expression:
        if isinstance(value, exp.Column) and not value.table and value.this.args.get("quoted"):
            return exp.Literal.string(value.name)
        return value

    if isinstance(node, _COMPARISONS):
        node.set("expression", fix(node.expression))
    elif isinstance(node, exp.In):
        node.set("expressions", [fix(v) for v in node.expressions])
    elif isinstance(node, exp.Between):
        node.set("low", fix(node.args["low"]))
        node.set("high", fix(node.args["high"]))
    return node


def _flatten(node: exp.Expression, kind: type) -> list[exp.Expression]:
    """The operands of a chain of ``kind`` (And/Or), looking through parentheses."""
    while isinstance(node, exp.Paren) and isinstance(node.this, kind):
        node = node.this
    if isinstance(node, kind):
        return _flatten(node.this, kind) + _flatten(node.expression, kind)
    return [node]


def _sort_operands(node: exp.Expression) -> exp.Expression:
    """Put the two sides of = / != in a fixed order, so that ``a = b`` and ``b = a`` read alike."""
    if isinstance(node, _SYMMETRIC):
        left, right = node.this, node.expression
        if left.sql(dialect=DIALECT) > right.sql(dialect=DIALECT):
            return node.__class__(this=right, expression=left)
    return node


def _sort_and_terms(node: exp.Expression) -> exp.Expression:
    """Put the terms of an AND chain in a fixed order (run after ``_sort_operands``, which they depend on)."""
    if isinstance(node, exp.And) and not isinstance(node.parent, exp.And):
        terms = sorted(_flatten(node, exp.And), key=lambda t: t.sql(dialect=DIALECT))
        return exp.and_(*terms, copy=False) if len(terms) > 1 else terms[0]
    return node


def _drop_table_aliases(select: exp.Select) -> None:
    """Replace table aliases (``singer AS T1`` ... ``T1.name``) by table names where that is unambiguous."""
    sources = [t for t in [select.args.get("from_") or select.args.get("from")] if t is not None]
    sources += select.args.get("joins") or []
    tables = [s.this for s in sources if isinstance(s.this, exp.Table)]
    counts: dict[str, int] = {}
    for table in tables:
        counts[table.name.lower()] = counts.get(table.name.lower(), 0) + 1
    mapping = {}
    for table in tables:
        alias = table.alias
        if alias and counts[table.name.lower()] == 1:  # a self-join needs its aliases
            mapping[alias.lower()] = table.name.lower()
            table.set("alias", None)
    if not mapping:
        return
    for col in select.find_all(exp.Column):
        # Only columns of this scope: a subquery with its own FROM keeps its own names.
        scope = col.find_ancestor(exp.Select)
        if scope is select and col.table and col.table.lower() in mapping:
            col.set("table", exp.to_identifier(mapping[col.table.lower()]))
    single = len(tables) == 1 and len(sources) == 1
    if single:  # one table in scope: "singer.name" and "name" mean the same
        only = tables[0].name.lower()
        for col in select.find_all(exp.Column):
            if col.find_ancestor(exp.Select) is select and (col.table or "").lower() == only:
                col.set("table", None)


def _drop_column_aliases(select: exp.Select) -> None:
    """Remove ``AS name`` from selected expressions, writing the expression where ORDER BY etc. used the name.

    Output column names do not change a query's rows. A select whose columns are read by name from outside
    (a FROM subquery, a CTE) keeps its aliases.
    """
    if select.find_ancestor(exp.From, exp.Join, exp.CTE) is not None:
        return
    aliases = {}
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            aliases[item.alias.lower()] = item.this
    if not aliases:
        return
    for key in ("order", "group", "having"):
        clause = select.args.get(key)
        if clause is None:
            continue
        for col in list(clause.find_all(exp.Column)):
            if not col.table and col.name.lower() in aliases and col.find_ancestor(exp.Select) is select:
                col.replace(aliases[col.name.lower()].copy())
    select.set("expressions", [e.this if isinstance(e, exp.Alias) else e for e in select.expressions])


def _lower_identifiers(node: exp.Expression) -> exp.Expression:
    # SQLite identifiers are case-insensitive, quoted or not.
    if isinstance(node, exp.Identifier):
        node.set("this", node.this.lower())
        node.set("quoted", False)
    return node


def normalize_sql(sql: str) -> str:
    """Canonical text of a query for exact match: keyword/identifier case, whitespace, table and column
    aliases, double-quoted strings, and the order of AND terms and of ``=`` operands no longer matter.

    >>> normalize_sql('select T1.name from singer as T1 where T1.age > 20 and T1.country = "France"')
    "SELECT name FROM singer WHERE 'France' = country AND age > 20"

    Raises SQLSyntaxError when the text does not parse or is nested too deeply. Texts up to CACHED_PARSE_CHARS
    are cached (``normalize_sql.cache_clear()`` empties the cache).
    """
    if isinstance(sql, str) and len(sql) <= CACHED_PARSE_CHARS:
        return _normalize_cached(sql)
    return _normalize(sql)


@lru_cache(maxsize=8192)
def _normalize_cached(sql: str) -> str:
    return _normalize(sql)


normalize_sql.cache_clear = _normalize_cached.cache_clear  # type: ignore[attr-defined]


def _normalize(sql: str) -> str:
    tree = parse_sql(sql)
    try:
        tree = tree.transform(_quoted_value_to_string, copy=False)
        for select in list(tree.find_all(exp.Select)):
            _drop_table_aliases(select)
            _drop_column_aliases(select)
        tree = tree.transform(_lower_identifiers, copy=False)
        tree = tree.transform(_sort_operands, copy=False)
        tree = tree.transform(_sort_and_terms, copy=False)
        text = tree.sql(dialect=DIALECT, normalize_functions="lower")
    except RecursionError:  # parsed, but too deep to rewrite: as unreadable as a parse error
        raise SQLSyntaxError("SQL nested too deeply to normalize") from None
    return re.sub(r"\s+", " ", text).strip()
