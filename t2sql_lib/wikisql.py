"""WikiSQL in its official release format, with the official metrics.

A WikiSQL split is three files: ``{split}.jsonl`` (questions, each with a structured query
``sql: {sel, agg, conds}``), ``{split}.tables.jsonl`` (the tables: ``id``, ``header``, ``types``, ``rows``)
and ``{split}.db`` (SQLite; table ``1-10015132-11`` is stored as ``table_1_10015132_11`` with columns
``col0..colN`` and lower-cased text).

The structured query is rendered two ways:

* **readable** SQL over the header names, which the prompt shows and the model learns to write::

      SELECT MAX("Height (m)") FROM table_1_0000001_1 WHERE "Country" = 'Nepal'

* **executable** SQL over ``colN`` for the ``.db``, with WikiSQL's semantics: string values lower-cased,
  values compared with a ``real`` column parsed as numbers::

      SELECT MAX(col1) AS result FROM table_1_0000001_1 WHERE col2 = 'nepal'

Metrics follow the official evaluation: **logical-form accuracy** (same selected column, same aggregation,
same set of conditions with values compared as lower-cased text) and **execution accuracy** (the two queries
return the same list of values). A prediction is readable SQL; it is parsed back into the structured form.

Online, ``download_wikisql`` fetches the official tarball once and checks its SHA-256; offline, the tests use
``write_wikisql_fixture``, a few hand-made tables and questions in the same format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tarfile
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlglot import exp

from .paths import raw_data_dir
from .schema import Column, Example, ExampleList, Schema, Table
from .sql import SQLError, SQLRuntimeError, connect_read_only, execute_sql, parse_sql

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")  # "OP" is declared by the official code but never used by the data
SPLITS = ("train", "dev", "test")

WIKISQL_URL = "https://github.com/salesforce/WikiSQL/raw/master/data.tar.bz2"
# SHA-256 of the official tarball (26,164,664 bytes) as pinned by Hugging Face datasets' wikisql
# dataset_infos.json. This project was written offline and could not download the file to confirm it, so
# the value is a pinned constant: override it with $T2SQL_WIKISQL_SHA256 or the ``sha256=`` argument if the
# release ever changes. The download is always hashed and compared; a mismatch is an error, not a warning.
WIKISQL_SHA256 = "755c728ab188e364575705c8641f3fafd86fb089cb8b08e8c03f01832aae0881"


# ---------------------------------------------------------------------------------------------------------
# Tables and structured queries

@dataclass(frozen=True)
class WikiSQLTable:
    """One table of ``{split}.tables.jsonl``."""

    id: str
    header: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = ()
    page_title: str | None = None
    caption: str | None = None

    @property
    def db_table(self) -> str:
        """The table's name in the ``.db``: ``table_`` + the id with ``-`` turned into ``_``."""
        return wikisql_table_name(self.id)

    def schema(self) -> Schema:
        """The ``Schema`` the prompt shows: the ``.db`` table name and the readable header as column names."""
        columns = tuple(Column(name=h, type=t) for h, t in zip(self.header, self.types))
        return Schema(db_id=self.id, tables=(Table(name=self.db_table, columns=columns,
                                                   display_name=self.page_title or self.caption),))

    def sample_values(self, max_values: int = 3) -> dict[str, list[Any]]:
        """Up to ``max_values`` distinct values per column from ``rows``, keyed ``"table.header"`` for
        ``prompts.serialize_schema``."""
        samples: dict[str, list[Any]] = {}
        for i, name in enumerate(self.header):
            seen: list[Any] = []
            for row in self.rows:
                if i < len(row) and row[i] not in seen and row[i] not in ("", None):
                    seen.append(row[i])
                    if len(seen) == max_values:
                        break
            if seen:
                samples[f"{self.db_table}.{name}"] = seen
        return samples

    @classmethod
    def from_schema(cls, schema: Schema) -> WikiSQLTable:
        """Header and types back from an example's schema (its one table's columns, in order)."""
        table = schema.tables[0]
        return cls(id=schema.db_id, header=tuple(c.name for c in table.columns),
                   types=tuple(c.type for c in table.columns), page_title=table.display_name)


def wikisql_table_name(table_id: str) -> str:
    """The SQLite table of a WikiSQL table id: ``1-10015132-11`` -> ``table_1_10015132_11``."""
    return table_id if table_id.startswith("table") else "table_" + table_id.replace("-", "_")


@dataclass(frozen=True)
class WikiSQLQuery:
    """A WikiSQL structured query: selected column index, aggregation index, conditions (col, op, value)."""

    sel: int
    agg: int
    conds: tuple[tuple[int, int, Any], ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any], n_columns: int | None = None) -> WikiSQLQuery:
        """Build from the release's ``{"sel", "agg", "conds"}``; ValueError says what is out of range."""
        if not isinstance(d, dict) or not {"sel", "agg", "conds"} <= set(d):
            raise ValueError(f"a WikiSQL query needs sel, agg and conds, got {d!r}")
        sel, agg = d["sel"], d["agg"]
        conds = tuple((c[0], c[1], c[2]) for c in d["conds"])
        if not (isinstance(agg, int) and 0 <= agg < len(AGG_OPS)):
            raise ValueError(f"aggregation index {agg!r} is not one of 0..{len(AGG_OPS) - 1}")
        for col, op, _ in conds:
            if not (isinstance(op, int) and 0 <= op < 3):
                raise ValueError(f"condition operator index {op!r} is not one of 0..2 (= > <)")
            if not isinstance(col, int) or (n_columns is not None and not 0 <= col < n_columns):
                raise ValueError(f"condition column {col!r} is not one of the table's {n_columns} columns")
        if not isinstance(sel, int) or (n_columns is not None and not 0 <= sel < n_columns):
            raise ValueError(f"selected column {sel!r} is not one of the table's {n_columns} columns")
        return cls(sel=sel, agg=agg, conds=conds)

    def to_dict(self) -> dict[str, Any]:
        """The release's form: ``{"sel": ..., "agg": ..., "conds": [[col, op, value], ...]}``."""
        return {"sel": self.sel, "agg": self.agg, "conds": [list(c) for c in self.conds]}

    def logical_form_key(self) -> tuple[int, int, frozenset]:
        """What logical-form accuracy compares: sel, agg and the *set* of conditions, values lower-cased."""
        return self.sel, self.agg, frozenset((col, op, str(val).lower()) for col, op, val in self.conds)


def logical_form_match(pred: WikiSQLQuery, gold: WikiSQLQuery) -> bool:
    """WikiSQL's logical-form accuracy for one pair: same column, aggregation and condition set."""
    return pred.logical_form_key() == gold.logical_form_key()


# ---------------------------------------------------------------------------------------------------------
# Rendering

def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def render_readable(query: WikiSQLQuery, table: WikiSQLTable) -> str:
    """SQL over the readable header names, values as written in the data (what the model learns).

    >>> t = WikiSQLTable("1-1-1", ("Mountain", "Height (m)", "Country"), ("text", "real", "text"))
    >>> render_readable(WikiSQLQuery(1, 1, ((2, 0, "Nepal"),)), t)
    'SELECT MAX("Height (m)") FROM table_1_1_1 WHERE "Country" = \\'Nepal\\''
    """
    column = _quote_identifier(table.header[query.sel])
    select = f"{AGG_OPS[query.agg]}({column})" if query.agg else column
    sql = f"SELECT {select} FROM {table.db_table}"
    if query.conds:
        sql += " WHERE " + " AND ".join(f"{_quote_identifier(table.header[col])} {COND_OPS[op]} {_literal(val)}"
                                        for col, op, val in query.conds)
    return sql


_NUMBER_IN_TEXT = re.compile(r"[-+]?\d*\.\d+|\d+")
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?\s*$")


def parse_wikisql_number(value: Any) -> float:
    """A number from a condition value, the way the official engine reads values for ``real`` columns.

    Plain and comma-grouped numbers parse whole (``"1,234.5"`` -> 1234.5); otherwise the first number in
    the text is taken (``"8848 m"`` -> 8848.0). ValueError when there is no number at all.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    if _PLAIN_NUMBER.match(text) and re.search(r"\d", text):
        return float(text.replace(",", "").strip())
    found = _NUMBER_IN_TEXT.findall(text)
    if not found:
        raise ValueError(f"no number in {text!r} for a real column")
    return float(found[0])


def render_executable(query: WikiSQLQuery, db_table: str, column_types: dict[str, str]) -> str:
    """The ``colN`` SQL the official engine runs on the ``.db``, with its value handling applied.

    ``column_types`` maps ``col0..colN`` to their ``.db`` types. Strings are lower-cased; values for a
    ``real`` column become numbers. Like the official engine, which binds one parameter per column name, a
    column with two conditions compares both against the last value given for it.

    >>> render_executable(WikiSQLQuery(1, 1, ((2, 0, "Nepal"),)), "table_1_1_1",
    ...                   {"col0": "text", "col1": "real", "col2": "text"})
    "SELECT MAX(col1) AS result FROM table_1_1_1 WHERE col2 = 'nepal'"
    """
    select = f"col{query.sel}"
    if query.agg:
        select = f"{AGG_OPS[query.agg]}({select})"
    values: dict[int, Any] = {}
    for col, _, val in query.conds:
        if isinstance(val, str):
            val = val.lower()
        if column_types.get(f"col{col}", "text").lower() == "real" and not isinstance(val, (int, float)):
            val = parse_wikisql_number(val)
        values[col] = val
    sql = f"SELECT {select} AS result FROM {db_table}"
    if query.conds:
        sql += " WHERE " + " AND ".join(f"col{col} {COND_OPS[op]} {_literal(values[col])}"
                                        for col, op, _ in query.conds)
    return sql


# ---------------------------------------------------------------------------------------------------------
# Parsing readable SQL back into a structured query

_AGG_NODES = {exp.Max: 1, exp.Min: 2, exp.Count: 3, exp.Sum: 4, exp.Avg: 5}
_OP_NODES = {exp.EQ: 0, exp.GT: 1, exp.LT: 2}


def _column_index(node: exp.Expression, header: tuple[str, ...]) -> int:
    if not isinstance(node, exp.Column):
        raise ValueError(f"expected a column, got {node.sql()!r}")
    name = node.name
    for i, h in enumerate(header):
        if h == name:
            return i
    for i, h in enumerate(header):  # SQLite matches column names case-insensitively
        if h.lower() == name.lower():
            return i
    raise ValueError(f"no column {name!r} in the table (columns: {', '.join(header)})")


def _value(node: exp.Expression) -> Any:
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return -_value(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if re.fullmatch(r"\d+", text) else float(text)
    if isinstance(node, exp.Column) and not node.table and node.this.args.get("quoted"):
        return node.name  # "value" in double quotes: SQLite reads it as a string when no column has that name
    raise ValueError(f"expected a value, got {node.sql()!r}")


def parse_readable(sql: str, table: WikiSQLTable) -> WikiSQLQuery:
    """The structured query of readable SQL in WikiSQL's form; ValueError when it does not fit that form.

    >>> t = WikiSQLTable("1-1-1", ("Mountain", "Height (m)", "Country"), ("text", "real", "text"))
    >>> parse_readable('SELECT max("Height (m)") FROM table_1_1_1 WHERE "Country" = \\'Nepal\\'', t)
    WikiSQLQuery(sel=1, agg=1, conds=((2, 0, 'Nepal'),))
    """
    try:
        tree = parse_sql(sql)
    except SQLError as err:
        raise ValueError(str(err)) from None
    if not isinstance(tree, exp.Select):
        raise ValueError("WikiSQL queries are a single SELECT")
    extra = [k for k in ("joins", "group", "having", "order", "limit", "offset", "with", "distinct")
             if tree.args.get(k)]
    if extra:
        raise ValueError(f"WikiSQL queries have no {', '.join(extra)}")
    if len(tree.expressions) != 1:
        raise ValueError("WikiSQL queries select exactly one column")
    item = tree.expressions[0]
    item = item.this if isinstance(item, exp.Alias) else item
    agg = 0
    if type(item) in _AGG_NODES:
        agg = _AGG_NODES[type(item)]
        item = item.this
        if isinstance(item, exp.Distinct):
            raise ValueError("WikiSQL aggregations take no DISTINCT")
    sel = _column_index(item, table.header)
    conds = []
    where = tree.args.get("where")
    if where is not None:
        terms, node = [], where.this
        stack = [node]
        while stack:  # flatten AND chains (no OR in WikiSQL)
            node = stack.pop()
            if isinstance(node, exp.Paren):
                stack.append(node.this)
            elif isinstance(node, exp.And):
                stack += [node.expression, node.this]
            else:
                terms.append(node)
        for term in terms:
            if type(term) not in _OP_NODES:
                raise ValueError(f"WikiSQL conditions use = > <, got {term.sql()!r}")
            conds.append((_column_index(term.this, table.header), _OP_NODES[type(term)], _value(term.expression)))
    return WikiSQLQuery(sel=sel, agg=agg, conds=tuple(conds))


# ---------------------------------------------------------------------------------------------------------
# Execution with the official semantics

@lru_cache(maxsize=4096)
def _column_types(db_path: str, db_table: str) -> dict[str, str]:
    con = connect_read_only(db_path)
    try:
        rows = con.execute(f"PRAGMA table_info({_quote_identifier(db_table)})").fetchall()
    finally:
        con.close()
    if not rows:
        raise ValueError(f"{db_path}: no table {db_table!r}")
    return {r[1]: (r[2] or "text").lower() for r in rows}


def execute_wikisql(db_path: str | Path, table_id: str, query: WikiSQLQuery, timeout_s: float = 5.0):
    """Run a structured query on a WikiSQL ``.db`` as the official engine does; an ``ExecResult``."""
    from .sql import ExecResult

    db_table = wikisql_table_name(table_id)
    try:
        sql = render_executable(query, db_table, _column_types(str(db_path), db_table))
    except ValueError as err:  # a value with no number for a real column: the official engine fails too
        return ExecResult(ok=False, error=SQLRuntimeError(str(err)))
    return execute_sql(db_path, sql, timeout_s=timeout_s)


def evaluate_wikisql_prediction(example: Example, prediction: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """Valid-SQL, logical-form and execution outcomes of readable ``prediction`` for a WikiSQL ``example``."""
    table = WikiSQLTable.from_schema(example.schema)
    gold_query = WikiSQLQuery.from_dict(example.meta["wikisql_query"])
    gold = execute_wikisql(example.db_path, example.db_id, gold_query, timeout_s)
    out: dict[str, Any] = {"gold_error": None if gold.ok else f"{type(gold.error).__name__}: {gold.error}"}
    try:
        pred_query = parse_readable(prediction, table)
    except ValueError as err:
        out.update(valid_sql=False, logical_form_accuracy=False, execution_accuracy=False,
                   error=f"not a WikiSQL query: {err}")
        return out
    pred = execute_wikisql(example.db_path, example.db_id, pred_query, timeout_s)
    out.update(valid_sql=pred.ok, logical_form_accuracy=logical_form_match(pred_query, gold_query),
               execution_accuracy=bool(gold.ok and pred.ok and pred.rows == gold.rows),
               error=None if pred.ok else f"{type(pred.error).__name__}: {pred.error}")
    return out


# ---------------------------------------------------------------------------------------------------------
# Loading

def _read_jsonl(path: Path):
    """Yield (line number, object) for each non-blank line; ValueError names the file and line of bad JSON."""
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: malformed JSON: {err.msg} (column {err.colno})") from err
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not UTF-8 text") from err


def split_files(root: Path, split: str) -> tuple[Path, Path, Path]:
    """The three files of a split: ``{split}.jsonl``, ``{split}.tables.jsonl``, ``{split}.db``."""
    return root / f"{split}.jsonl", root / f"{split}.tables.jsonl", root / f"{split}.db"


def _find_split_folder(root: Path, split: str) -> Path:
    for folder in (root, root / "data"):  # the release tarball unpacks into data/
        if all(p.is_file() for p in split_files(folder, split)):
            return folder
    looked = [str(p) for folder in (root, root / "data") for p in split_files(folder, split)]
    raise FileNotFoundError(f"no WikiSQL {split!r} split under {root}: looked for " + ", ".join(looked))


def load_wikisql_tables(path: str | Path) -> dict[str, WikiSQLTable]:
    """Every table of a ``{split}.tables.jsonl`` file, keyed by id."""
    path = Path(path)
    tables = {}
    for line_no, d in _read_jsonl(path):
        try:
            header = tuple(str(h) for h in d["header"])
            types = tuple(d.get("types") or ["text"] * len(header))
            if len(types) != len(header):
                raise ValueError(f"{len(header)} headers but {len(types)} types")
            table = WikiSQLTable(id=d["id"], header=header, types=types,
                                 rows=tuple(tuple(r) for r in d.get("rows", ())),
                                 page_title=d.get("page_title"), caption=d.get("caption"))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{line_no}: not a WikiSQL table: {err!r}") from err
        tables[table.id] = table
    return tables


def load_wikisql(root: str | Path | None = None, split: str = "dev", *, download: bool = True) -> ExampleList:
    """WikiSQL's ``split`` (``train``, ``dev``, ``test``) as an ``ExampleList``.

    ``root`` is a folder with the split's three files (or with ``data/`` holding them). Without ``root`` the
    official release is used from ``<data>/raw/wikisql``, downloaded first when ``download`` is true.
    Each example's ``sql`` is the readable form; ``meta`` holds ``wikisql_query`` (the structured query),
    ``exec_sql`` (the ``colN`` form for the ``.db``), ``table_id``, ``index`` and ``split``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown WikiSQL split {split!r}: choose one of {SPLITS}")
    if root is None:
        cache = raw_data_dir() / "wikisql"
        try:
            folder = _find_split_folder(cache, split)
        except FileNotFoundError:
            if not download:
                raise
            folder = download_wikisql(cache)
    else:
        folder = _find_split_folder(Path(root).expanduser(), split)
    questions_path, tables_path, db_path = split_files(folder, split)
    tables = load_wikisql_tables(tables_path)
    schemas: dict[str, Schema] = {}
    examples = []
    for index, (line_no, d) in enumerate(_read_jsonl(questions_path)):
        try:
            table_id, question = d["table_id"], d["question"]
            table = tables[table_id]
        except KeyError as err:
            raise ValueError(f"{questions_path}:{line_no}: missing {err} (or a table_id that "
                             f"{tables_path.name} does not have)") from err
        except TypeError as err:
            raise ValueError(f"{questions_path}:{line_no}: expected a JSON object") from err
        try:
            query = WikiSQLQuery.from_dict(d.get("sql"), n_columns=len(table.header))
        except (ValueError, TypeError, IndexError) as err:
            raise ValueError(f"{questions_path}:{line_no}: bad sql: {err}") from err
        if table_id not in schemas:
            schemas[table_id] = table.schema()
        column_types = {f"col{i}": t for i, t in enumerate(table.types)}
        try:
            exec_sql = render_executable(query, table.db_table, column_types)
        except ValueError:  # a few official questions hold a value with no number for a real column
            exec_sql = None
        meta = {"dataset": "wikisql", "split": split, "index": index, "table_id": table_id,
                "wikisql_query": query.to_dict(), "exec_sql": exec_sql}
        examples.append(Example(question=question, sql=render_readable(query, table), db_id=table_id,
                                db_path=db_path, schema=schemas[table_id], meta=meta))
    return ExampleList(examples, source=str(questions_path))


# ---------------------------------------------------------------------------------------------------------
# Download

def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest``, refusing members that would land outside it or are links."""
    with tarfile.open(archive, "r:*") as tar:
        root = dest.resolve()
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if root not in (target, *target.parents) or member.issym() or member.islnk():
                raise ValueError(f"{archive}: refusing to extract {member.name!r} (outside {dest} or a link)")
        if hasattr(tarfile, "data_filter"):  # Python 3.12+ and recent patch releases: tarfile's own guard too
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)


def download_wikisql(dest: str | Path | None = None, url: str = WIKISQL_URL, sha256: str | None = None,
                     force: bool = False) -> Path:
    """Download the official WikiSQL tarball into ``dest`` (default ``<data>/raw/wikisql``), check, unpack.

    The file's SHA-256 must equal ``sha256`` (default ``$T2SQL_WIKISQL_SHA256`` or ``WIKISQL_SHA256``); a
    mismatch deletes the download and raises. A cached tarball that passes the check is not downloaded
    again. Returns the folder holding ``train.jsonl`` ... ``test.db``.
    """
    dest = Path(dest) if dest is not None else raw_data_dir() / "wikisql"
    expected = (sha256 or os.environ.get("T2SQL_WIKISQL_SHA256") or WIKISQL_SHA256).lower()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "data.tar.bz2"
    fetched = False
    if force or not archive.is_file() or sha256_file(archive) != expected:
        fetched = True
        partial = archive.with_suffix(".bz2.part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise OSError(f"cannot download WikiSQL from {url}: {err}; put the release's {archive.name} "
                          f"in {dest} by hand, or pass root= to load_wikisql") from err
        actual = sha256_file(partial)
        if actual != expected:
            partial.unlink()
            raise ValueError(f"{url}: SHA-256 {actual} does not match the expected {expected}; if the "
                             "release changed on purpose, set $T2SQL_WIKISQL_SHA256 to the new checksum")
        partial.replace(archive)
    unpacked = all(p.is_file() for split in SPLITS for p in split_files(dest / "data", split))
    if fetched or not unpacked:
        _safe_extract(archive, dest)
    return _find_split_folder(dest, "dev")


# ---------------------------------------------------------------------------------------------------------
# A small fixture in the official format

_FIXTURE_TABLES = [
    {"id": "1-0000001-1", "page_title": "Eight-thousanders", "caption": "Highest mountains",
     "header": ["Mountain", "Height (m)", "Country", "Range", "First ascent"],
     "types": ["text", "real", "text", "text", "real"],
     "rows": [["Mount Everest", 8848, "Nepal", "Mahalangur Himalaya", 1953],
              ["K2", 8611, "Pakistan", "Baltoro Karakoram", 1954],
              ["Kangchenjunga", 8586, "Nepal", "Kangchenjunga Himalaya", 1955],
              ["Lhotse", 8516, "Nepal", "Mahalangur Himalaya", 1956],
              ["Makalu", 8485, "Nepal", "Mahalangur Himalaya", 1955],
              ["Cho Oyu", 8188, "China", "Mahalangur Himalaya", 1954]]},
    {"id": "2-0000002-3", "page_title": "Club squad", "caption": "Current squad",
     "header": ["No.", "Player", "Position", 'Club "nickname"', "Goals"],
     "types": ["text", "text", "text", "text", "real"],
     "rows": [["1", "Ana Silva", "Goalkeeper", "The Owls", 0],
              ["7", "Ben O'Neil", "Forward", "The Owls", 12],
              ["9", "Chen Wei", "Forward", "The Kites", 21],
              ["4", "Dara Mensah", "Defender", "The Kites", 2],
              ["10", "Eli Novak", "Midfielder", "The Owls", 7]]},
]

# (split, table index, question, sel, agg, conds): every aggregation and condition operator appears.
_FIXTURE_QUESTIONS = [
    ("train", 0, "Which country is Mount Everest in?", 2, 0, [[0, 0, "Mount Everest"]]),
    ("train", 0, "How many mountains are in Nepal?", 0, 3, [[2, 0, "Nepal"]]),
    ("train", 1, "Who plays forward for the Owls?", 1, 0, [[2, 0, "Forward"], [3, 0, "The Owls"]]),
    ("train", 1, "What is the total number of goals by forwards?", 4, 4, [[2, 0, "forward"]]),
    ("dev", 0, "What is the height of the tallest mountain in Nepal?", 1, 1, [[2, 0, "Nepal"]]),
    ("dev", 0, "Which mountains are higher than 8,500 metres?", 0, 0, [[1, 1, "8,500"]]),
    ("dev", 0, "What is the lowest height among mountains first climbed after 1954?", 1, 2, [[4, 1, 1954]]),
    ("dev", 0, "Which mountain in the Mahalangur Himalaya is under 8500 m?", 0, 0,
     [[3, 0, "Mahalangur Himalaya"], [1, 2, "8500 m"]]),
    ("dev", 1, "What is the average number of goals for players of The Owls?", 4, 5, [[3, 0, "the owls"]]),
    ("dev", 1, "Which player wears number 7?", 1, 0, [[0, 0, "7"]]),
    ("dev", 1, "List every player.", 1, 0, []),
    ("test", 0, "Which range is K2 in?", 3, 0, [[0, 0, "K2"]]),
    ("test", 1, "How many players scored fewer than 5 goals?", 1, 3, [[4, 2, 5]]),
]


_FIXTURE_MARKER = ".t2sql_wikisql_fixture"


def write_wikisql_fixture(folder: str | Path) -> Path:
    """Write a small WikiSQL-format dataset to ``folder``: ``{split}.jsonl``, ``.tables.jsonl``, ``.db``.

    Every split (train, dev, test) holds the same two tables and a few questions covering each aggregation
    and condition operator, a comma-grouped number, a number with a unit, a quoted header and values in
    mixed case. A fixture written earlier in ``folder`` is replaced; any other WikiSQL files there (the real
    release, say) are left alone and FileExistsError is raised. Returns ``folder``.
    """
    folder = Path(folder)
    marker = folder / _FIXTURE_MARKER
    existing = [p for split in SPLITS for p in split_files(folder, split) if p.exists()]
    if existing and not marker.is_file():
        raise FileExistsError(f"{folder} already holds WikiSQL files ({existing[0].name}, ...) that this "
                              "function did not write; refusing to overwrite them")
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by t2sql_lib.wikisql.write_wikisql_fixture\n", encoding="utf-8")
    for split in SPLITS:
        questions, tables, db = split_files(folder, split)
        with tables.open("w", encoding="utf-8") as f:
            for t in _FIXTURE_TABLES:
                f.write(json.dumps(t) + "\n")
        with questions.open("w", encoding="utf-8") as f:
            for q_split, t_idx, question, sel, agg, conds in _FIXTURE_QUESTIONS:
                if q_split == split:
                    record = {"phase": 1, "table_id": _FIXTURE_TABLES[t_idx]["id"], "question": question,
                              "sql": {"sel": sel, "agg": agg, "conds": conds}}
                    f.write(json.dumps(record) + "\n")
        db.unlink(missing_ok=True)
        con = sqlite3.connect(db)
        try:
            for t in _FIXTURE_TABLES:
                name = wikisql_table_name(t["id"])
                cols = ", ".join(f"col{i} {typ}" for i, typ in enumerate(t["types"]))
                con.execute(f"CREATE TABLE {name} ({cols})")
                marks = ", ".join("?" * len(t["types"]))
                # As in the release, text is stored lower-cased (queries lower-case their values to match).
                rows = [[v.lower() if isinstance(v, str) else v for v in row] for row in t["rows"]]
                con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            con.commit()
        finally:
            con.close()
    return folder
