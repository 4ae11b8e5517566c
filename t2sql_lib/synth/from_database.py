"""A domain description read from any SQLite file, so the question patterns instantiate on a user's database.

``describe_database(path)`` reads tables, columns, types, primary keys and foreign keys (declared, or
inferred from a matching name and values that all appear in the parent's key), loads the rows, gives each
column a role and turns names into words. It returns the same ``GeneratedDatabase`` the generator builds for
its own databases, so ``generate_for_database`` draws questions from it unchanged.

Roles (see ``domains``): ``pk`` / ``fk`` (keys), ``label`` (one name-like text column per table), ``category``,
``measure`` / ``ordinal`` (numbers), ``date`` (ISO dates). Columns no pattern can use get a role of their own,
kept for the description: ``id`` (an identifier that is not a usable key), ``boolean``, ``text`` (free text,
or names that are not the table's label) and ``other`` (mixed types, blobs, and missing values anywhere but
in a category). Every draft is checked on the file, so a pattern meeting a NULL it does not expect is dropped.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot

from ..schema import Schema
from ..sql import connect_read_only, read_schema
from .build import GeneratedDatabase
from .domains import ColumnSpec, Domain, TableSpec
from .patterns import DbContext, TableData

MAX_ROWS = 10_000  # a larger table is left out of the description: every draw of a pattern reads all its rows
CATEGORY_MAX_VALUES = 40  # more distinct values than this make a column free text, not a category
SPLIT = "adapt"  # the ``split`` of a described database (a user's database belongs to none of the generator's)

# ---------------------------------------------------------------- names to words
_ABBREVIATIONS = {
    "num": "number", "no": "number", "nbr": "number", "qty": "quantity", "amt": "amount", "avg": "average",
    "dept": "department", "desc": "description", "dob": "date of birth", "addr": "address", "yr": "year",
    "pct": "percent", "fname": "first name", "lname": "last name", "tel": "telephone", "cnt": "count",
    "max": "maximum", "min": "minimum", "temp": "temperature", "info": "information",
}
_PHRASES = {"f name": "first name", "l name": "last name", "m name": "middle name"}  # FName, LName
_TABLE_PREFIXES = ("tbl", "tb")  # tbl_city: a city
_PREPOSITIONS = ("in", "of", "for", "per", "with", "at", "on", "by", "to", "from")
_UNCOUNTABLE = {"data", "information", "staff", "equipment", "series", "species", "news", "music", "software",
                "hardware", "personnel", "furniture", "feedback", "evidence", "research", "weather"}
_IRREGULAR = {"person": "people", "child": "children", "man": "men", "woman": "women", "mouse": "mice",
              "foot": "feet", "tooth": "teeth", "goose": "geese", "criterion": "criteria"}
_IRREGULAR_SINGULAR = {plural: single for single, plural in _IRREGULAR.items()}


def name_words(name: str) -> str:
    """An SQL name as words: ``growing_days``, ``GROWING_DAYS``, ``growingDays`` -> ``growing days``."""
    text = re.sub(r"[\W_]+", " ", name)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)  # cityName -> city Name
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", " ", text)  # HTTPServer -> HTTP Server
    text = re.sub(r"(?<=[A-Za-z])(?=[0-9])", " ", text)  # line1 -> line 1
    words = " ".join(_ABBREVIATIONS.get(w.lower(), w.lower()) for w in text.split())
    for short, long in _PHRASES.items():
        words = re.sub(rf"\b{short}\b", long, words)
    return words or name


def table_words(name: str) -> str:
    """A table name as words: ``tbl_city`` -> ``city``, ``has_pet`` -> ``pet record``."""
    words = name_words(name).split()
    if len(words) > 1 and words[0] in _TABLE_PREFIXES:
        words = words[1:]
    if len(words) > 1 and words[0] in ("has", "have"):  # has_pet links students to pets: its rows are pet records
        words = [*words[1:], "record"]
    return " ".join(words)


def _noun_split(words: str) -> tuple[str, str, str]:
    """``words`` as (head, noun, tail): the noun that takes the number is the last word before a preposition."""
    parts = words.split(" ")
    at = next((i for i, w in enumerate(parts) if w in _PREPOSITIONS and i > 0), len(parts))
    return " ".join(parts[:at - 1]), parts[at - 1], " ".join(parts[at:])


def _join_words(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def plural(words: str) -> str:
    """The plural of a noun phrase: ``city`` -> ``cities``, ``singer in concert`` -> ``singers in concert``."""
    head, last, tail = _noun_split(words)
    if last in _UNCOUNTABLE or not last.isalpha():
        out = last
    elif last in _IRREGULAR:
        out = _IRREGULAR[last]
    elif re.search(r"[^aeiou]y$", last):
        out = last[:-1] + "ies"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        out = last + "es"
    else:
        out = last + "s"
    return _join_words(head, out, tail)


def singular(words: str) -> str:
    """The singular of a noun phrase: ``cities`` -> ``city``, ``addresses`` -> ``address``."""
    head, last, tail = _noun_split(words)
    if last in _IRREGULAR_SINGULAR:
        out = _IRREGULAR_SINGULAR[last]
    elif last in _UNCOUNTABLE or re.search(r"(ss|us|is)$", last) or not last.endswith("s"):
        out = last
    elif last.endswith("ies") and len(last) > 4:
        out = last[:-3] + "y"
    elif re.search(r"(sses|[^oa]uses|xes|ches|shes)$", last):  # statuses, but houses and causes
        out = last[:-2]
    else:
        out = last[:-1]
    return _join_words(head, out, tail)


def _looks_plural(words: str) -> bool:
    return singular(words) != words


def column_words(column: str, table_singular: str) -> str:
    """How a question names a column: its words, less a leading table noun (``pet_age`` in ``pets`` -> ``age``)."""
    words = name_words(column)
    for prefix in (table_singular, table_singular.replace(" ", "")):
        rest = words[len(prefix):].strip()
        if words.startswith(prefix + " ") and rest not in ("", "id", "name", "number", "code"):
            return rest
    return words


# ---------------------------------------------------------------- quoting
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY = sqlite3.connect(":memory:", check_same_thread=False)


def sql_name(name: str) -> str:
    """``name`` as the SQL of a pattern writes it: bare where SQLite and sqlglot read it so, else double-quoted."""
    quoted = '"' + name.replace('"', '""') + '"'
    if not _PLAIN.match(name):
        return quoted
    try:
        _MEMORY.execute(f"SELECT {name} FROM (SELECT 1 AS {quoted})")
        if sqlglot.parse_one(f"SELECT {name} FROM t", read="sqlite").selects[0].name != name:
            return quoted
    except Exception:  # a keyword (ORDER, GROUP ...) that either parser refuses as a bare name
        return quoted
    return name


# ---------------------------------------------------------------- roles
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[/:.]\d{1,2}")
_BOOLEAN_TEXT = {"t", "f", "y", "n", "true", "false", "yes", "no"}
_ID_WORDS = {"id", "code", "zip", "postcode", "phone", "fax", "telephone", "isbn", "uid", "email", "url"}
_ORDINAL_WORDS = {"year", "rank", "ranking", "rating", "position", "floor", "level", "grade", "order", "seed",
                  "round", "week", "month", "day", "season", "number", "version", "stars", "class"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_date(v: str) -> bool:
    if not _ISO_DATE.match(v):
        return False
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _number_role(words: str, values: list[Any]) -> str:
    last = words.split()[-1] if words else ""
    if set(words.split()) & _ID_WORDS:  # zip code, phone number, customer id: numbers no one adds up
        return "id"
    if set(values) <= {0, 1} and len(set(values)) == 2:
        return "boolean"
    return "ordinal" if last in _ORDINAL_WORDS or "year" in words.split() else "measure"


def _text_role(values: list[str]) -> str:
    distinct = set(values)
    if all(_is_date(v) for v in distinct):
        return "date"
    if len(distinct) <= 2 and {v.lower() for v in distinct} <= _BOOLEAN_TEXT:
        return "boolean"
    if any(len(v) > 60 or "\n" in v or not v.strip() for v in distinct):
        return "text"
    if len(distinct) <= CATEGORY_MAX_VALUES and len(distinct) < len(values) and len(distinct) <= 0.7 * len(values):
        return "category"
    return "text"


def column_role(name: str, values: Sequence[Any], table_singular: str = "") -> str:
    """The role of a non-key column from its name and values (see the module docstring)."""
    values = list(values)
    present = [v for v in values if v is not None]
    if not present:
        return "other"
    if len(present) < len(values):  # NULLs: a category still groups and filters; numbers and dates no longer sort
        text = all(isinstance(v, str) for v in present) and _text_role(present) == "category"
        return "category" if text and len(present) >= len(values) / 2 else "other"
    words = column_words(name, table_singular) if table_singular else name_words(name)
    if all(_is_number(v) for v in values):
        return _number_role(words, values)
    if all(isinstance(v, str) for v in values):
        return _text_role(values)
    return "other"


def _label_score(name: str, values: list[Any]) -> tuple | None:
    """How good a label ``name`` makes (higher is better), None when it cannot be one."""
    if not values or not all(isinstance(v, str) and v.strip() and len(v) <= 60 and "\n" not in v for v in values):
        return None
    if any(_DATE_PREFIX.match(v) for v in values[:20]):  # a date or a time names no row
        return None
    distinct = len(set(values)) / len(values)
    words = name_words(name).split()
    named = 2 if "name" in words or "title" in words else (0 if set(words) & _ID_WORDS else 1)
    if distinct < (0.75 if named == 2 else 0.9):  # first names repeat a little; other columns must not
        return None
    return (distinct == 1.0, named, -len(words))


# ---------------------------------------------------------------- reading the file
@dataclass
class _RawTable:
    name: str
    columns: list[str]
    rows: list[tuple]
    key: str | None  # the single column that identifies a row (declared or found), else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key_column(schema_table, columns: list[str], rows: list[tuple], referenced: set[str]) -> str | None:
    """The table's one-column key: the declared primary key, else a referenced or ``id`` column with unique values."""
    if len(schema_table.primary_key) == 1:
        return schema_table.primary_key[0]
    if schema_table.primary_key:
        return None
    for i, col in enumerate(columns):
        if col in referenced or name_words(col) == "id":
            values = [r[i] for r in rows]
            if None not in values and len(set(values)) == len(values):
                return col
    return None


def _read_tables(path: Path, schema: Schema) -> tuple[list[_RawTable], list[str]]:
    """Every table small enough to load, with its rows, and the names of those left out."""
    referenced = {(fk.ref_table.lower(), fk.ref_column) for fk in schema.foreign_keys}
    out, left_out = [], []
    con = connect_read_only(path)
    try:
        for table in schema.tables:
            (count,) = con.execute(f"SELECT COUNT(*) FROM {_quote(table.name)}").fetchone()
            if count > MAX_ROWS:
                left_out.append(table.name)
                continue
            columns = [c.name for c in table.columns]
            select = ", ".join(_quote(c) for c in columns)
            rows = [tuple(r) for r in con.execute(f"SELECT {select} FROM {_quote(table.name)}")]
            refs = {col for t, col in referenced if t == table.name.lower()}
            out.append(_RawTable(table.name, columns, rows, _key_column(table, columns, rows, refs)))
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{path}: cannot read the database: {err}") from err
    finally:
        con.close()
    return out, left_out


# ---------------------------------------------------------------- keys between tables
@dataclass(frozen=True)
class Reference:
    """A usable foreign key: ``table.column`` holds values of ``ref_table``'s key; ``declared`` or inferred."""

    table: str
    column: str
    ref_table: str
    declared: bool


def _values(table: _RawTable, column: str) -> list[Any]:
    i = table.columns.index(column)
    return [r[i] for r in table.rows]


def _key_map(child: _RawTable, column: str, parent: _RawTable) -> dict[Any, Any] | None:
    """Each value of ``child.column`` mapped to the ``parent`` key it names, or None when one names none.

    A value matches a key equal to it, or one that reads the same (``'3'`` and ``3``: SQLite compares a
    text column with an integer one as numbers, so the join holds).
    """
    if parent.key is None or not child.rows:
        return None
    values = set(_values(child, column))
    keys = _values(parent, parent.key)
    if None in values or len(set(keys)) != len(keys):
        return None
    exact = set(keys)
    by_text = {str(k): k for k in keys}
    out = {v: v if v in exact else by_text.get(str(v)) for v in values}
    return out if all(k is not None for k in out.values()) else None


def _link(child: _RawTable, column: str, parent: _RawTable) -> bool:
    """True when ``child.column`` can join ``parent``'s key; its values are rewritten to the keys they name."""
    mapping = _key_map(child, column, parent)
    if mapping is None:
        return False
    if any(type(k) is not type(v) for v, k in mapping.items()):  # '3' -> 3: the rows a pattern reads hold the key
        i = child.columns.index(column)
        child.rows = [r[:i] + (mapping[r[i]],) + r[i + 1:] for r in child.rows]
    return True


def _name_matches(column: str, parent: _RawTable) -> bool:
    """``singer_id`` -> ``singer.singer_id``; ``city_id`` / ``cityId`` -> ``cities.id``; ``country_code`` ->
    ``country.code``; ``airline`` -> ``airlines.uid``."""
    words, key = name_words(column), name_words(parent.key or "")
    noun = singular(table_words(parent.name))
    return (words == key and key != "id") or words in (noun, f"{noun} {key}") or \
        (words == f"{noun} id" and key.endswith("id"))


def find_references(tables: list[_RawTable], schema: Schema) -> list[Reference]:
    """Foreign keys a pattern can join over: declared ones whose values fit, then ones inferred by name and values."""
    by_name = {t.name.lower(): t for t in tables}
    out: list[Reference] = []
    taken: set[tuple[str, str]] = set()
    for fk in schema.foreign_keys:
        child, parent = by_name.get(fk.table.lower()), by_name.get(fk.ref_table.lower())
        if child is None or parent is None or (fk.table, fk.column) in taken:
            continue
        column = next((c for c in child.columns if c.lower() == fk.column.lower()), None)
        if column and (parent.key or "").lower() == fk.ref_column.lower() and _link(child, column, parent):
            out.append(Reference(child.name, column, parent.name, True))
            taken.add((child.name, column))
    declared = {(fk.table.lower(), fk.column.lower()) for fk in schema.foreign_keys}
    for child in tables:
        for column in child.columns:
            if (child.name.lower(), column.lower()) in declared or (child.name, column) in taken:
                continue
            for parent in tables:
                reverse = any(r.table == parent.name and r.ref_table == child.name for r in out)
                if parent is not child and not reverse and _name_matches(column, parent) \
                        and _link(child, column, parent):
                    out.append(Reference(child.name, column, parent.name, False))
                    taken.add((child.name, column))
                    break
    return out


# ---------------------------------------------------------------- the description
def _column_type(role: str, values: list[Any]) -> str:
    if role == "date":
        return "date"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values and all(_is_number(v) for v in values):
        return "real"
    return "text"


def _table_spec(raw: _RawTable, refs: dict[str, str], sql_names: dict[str, str], declared: set[str]
                ) -> tuple[TableSpec, list[tuple]]:
    """The spec of one table (key first, roles, words) and its rows in the spec's column order.

    ``refs`` maps the columns that join a parent to its SQL name; ``declared`` names the columns declared as
    foreign keys, which stay identifiers (``id``) when their values do not all join.
    """
    words = table_words(raw.name)
    one, many = (singular(words), words) if _looks_plural(words) else (words, plural(words))
    order = ([raw.key] if raw.key else []) + [c for c in raw.columns if c != raw.key]
    roles = {}
    for col in order:
        values = _values(raw, col)
        # a key that is also a foreign key (a one-to-one table) joins its parent: "fk" comes first
        roles[col] = "fk" if col in refs else "pk" if col == raw.key else "id" if col.lower() in declared \
            else column_role(col, values, one)
    scored = [(score, col) for col in order if roles[col] in ("text", "category")
              for score in [_label_score(col, _values(raw, col))] if score is not None]
    if scored:
        roles[max(scored)[1]] = "label"
    columns = []
    for col in order:
        values = _values(raw, col)
        columns.append(ColumnSpec(sql_names[col], _column_type(roles[col], values), roles[col],
                                  ref=refs.get(col), display=column_words(col, one),
                                  unique=len(set(values)) == len(values)))
    index = [raw.columns.index(c) for c in order]
    rows = [tuple(r[i] for i in index) for r in raw.rows]
    return TableSpec(sql_names[raw.name], one, many, tuple(columns), len(rows)), rows


PATTERN_ROLES = ("label", "category", "measure", "ordinal", "date")


@dataclass
class DatabaseDescription:
    """A SQLite file as the generator sees it: the database to draw from, its keys and what was left out."""

    database: GeneratedDatabase
    references: list[Reference]
    left_out: list[str]  # tables too large (over ``MAX_ROWS``) or empty

    def roles(self) -> dict[str, dict[str, str]]:
        """``{table: {column: role}}`` with the names as SQL writes them."""
        return {t.name: {c.name: c.role for c in t.columns} for t in self.database.domain.tables}

    def sample_values(self, k: int = 5) -> dict[str, dict[str, list[Any]]]:
        """``{table: {column: values}}``: each column's ``k`` most frequent values (no blobs, no NULL)."""
        out: dict[str, dict[str, list[Any]]] = {}
        for table in self.database.context.tables:
            out[table.name] = {}
            for col in table.spec.columns:
                counts = Counter(v for v in table.values(col) if isinstance(v, (int, float, str)))
                out[table.name][col.name] = [v for v, _ in counts.most_common(k)]
        return out


def describe_database(path: str | Path, db_id: str | None = None) -> DatabaseDescription:
    """Read ``path`` (read-only) into a description the question patterns instantiate on.

    ValueError, in one line, for a file that is not a SQLite database, a database with no tables or no
    rows, or one with no column a pattern can use; FileNotFoundError when the file is absent.
    """
    path = Path(path)
    schema = read_schema(path, db_id)
    if not schema.tables:
        raise ValueError(f"{path}: the database has no tables")
    loaded, too_large = _read_tables(path, schema)
    tables = [t for t in loaded if t.rows]
    empty = [t.name for t in loaded if not t.rows]
    if not tables:
        raise ValueError(f"{path}: the database has no rows" + (f" small enough to read (<= {MAX_ROWS} per table)"
                                                                 if too_large else ""))
    references = find_references(tables, schema)
    sql_names = {n: sql_name(n) for t in tables for n in (t.name, *t.columns)}
    specs, data = [], []
    for raw in tables:
        refs = {r.column: sql_names[r.ref_table] for r in references if r.table == raw.name}
        declared = {fk.column.lower() for fk in schema.foreign_keys if fk.table.lower() == raw.name.lower()}
        spec, rows = _table_spec(raw, refs, sql_names, declared)
        specs.append(spec)
        data.append(TableData(spec, rows))
    if not any(c.role in PATTERN_ROLES for s in specs for c in s.columns):
        raise ValueError(f"{path}: no usable columns (no names, categories, numbers or dates without missing values)")
    domain = Domain(schema.db_id, SPLIT, f"the database {schema.db_id}", tuple(specs))
    database = GeneratedDatabase(domain, schema, path, DbContext(domain, data))
    return DatabaseDescription(database, references, too_large + empty)
