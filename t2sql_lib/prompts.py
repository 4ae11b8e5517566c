"""Prompts: a compact schema text, and the prompt/target strings the model is trained on.

A training example is ``build_prompt(...) + build_target(...)``::

    <|schema|> singer(singer_id integer pk, name text, country text)
    concert(concert_id integer pk, singer_id integer)
    fk: concert.singer_id -> singer.singer_id <|question|> How many singers are there? <|sql|> SELECT count(*) FROM singer<|endoftext|>

The special tokens come from ``t2sql_lib.special_tokens`` (chapter 1 adds them to the tokenizer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .schema import Example, Schema
from .special_tokens import ENDOFTEXT, QUESTION, SCHEMA, SQL
from .sql import execute_sql

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VALUE_CHARS = 30  # a long sample value costs many tokens and teaches little


def quote_name(name: str) -> str:
    """A table or column name as SQL writes it: bare when plain, else in double quotes (``"Home Town"``)."""
    return name if _PLAIN_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 3] + "..."
        return "'" + text.replace("'", "''") + "'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _samples_for(sample_values: Mapping | None, table: str, column: str) -> list[Any]:
    if not sample_values:
        return []
    for key in (f"{table}.{column}", (table, column)):
        if key in sample_values:
            return list(sample_values[key])
    wanted = f"{table}.{column}".lower()
    for key, values in sample_values.items():  # names are case-insensitive in SQL
        name = ".".join(key) if isinstance(key, tuple) else str(key)
        if name.lower() == wanted:
            return list(values)
    return []


def serialize_schema(schema: Schema, sample_values: Mapping | None = None, max_values: int = 3) -> str:
    """The schema as compact text: one line per table, then one ``fk:`` line with every foreign key.

    Each column reads ``name type``, with ``pk`` on primary-key columns and, when ``sample_values`` maps
    ``"table.column"`` to values, up to ``max_values`` of them in brackets.

    >>> from t2sql_lib.schema import Column, ForeignKey, Schema, Table
    >>> singer = Table("singer", (Column("singer_id", "integer"), Column("name"), Column("Home Town")),
    ...                primary_key=("singer_id",))
    >>> concert = Table("concert", (Column("concert_id", "integer"), Column("singer_id", "integer")),
    ...                 primary_key=("concert_id",))
    >>> schema = Schema("concerts", (singer, concert), (ForeignKey("concert", "singer_id", "singer", "singer_id"),))
    >>> print(serialize_schema(schema, {"singer.name": ["Joe Sharp", "Timbaland", "Justin", "Rose"]}))
    singer(singer_id integer pk, name text ['Joe Sharp', 'Timbaland', 'Justin'], "Home Town" text)
    concert(concert_id integer pk, singer_id integer)
    fk: concert.singer_id -> singer.singer_id
    """
    lines = []
    for table in schema.tables:
        pk = {p.lower() for p in table.primary_key}
        parts = []
        for col in table.columns:
            text = f"{quote_name(col.name)} {col.type}"
            if col.name.lower() in pk:
                text += " pk"
            values = _samples_for(sample_values, table.name, col.name)[:max_values]
            if values:
                text += " [" + ", ".join(_format_value(v) for v in values) + "]"
            parts.append(text)
        lines.append(f"{quote_name(table.name)}({', '.join(parts)})")
    if schema.foreign_keys:
        lines.append("fk: " + ", ".join(
            f"{quote_name(fk.table)}.{quote_name(fk.column)} -> {quote_name(fk.ref_table)}.{quote_name(fk.ref_column)}"
            for fk in schema.foreign_keys))
    return "\n".join(lines)


def sample_column_values(db_path: str | Path, schema: Schema, max_values: int = 3) -> dict[str, list[Any]]:
    """Up to ``max_values`` distinct non-null values of every column, read safely from ``db_path``.

    Keys are ``"table.column"``, ready for ``serialize_schema(schema, sample_values=...)``. Columns that
    cannot be read (a schema that does not match the file) are left out.
    """
    samples: dict[str, list[Any]] = {}
    for table in schema.tables:
        for col in table.columns:
            sql = (f"SELECT DISTINCT {quote_name(col.name)} FROM {quote_name(table.name)} "
                   f"WHERE {quote_name(col.name)} IS NOT NULL LIMIT {int(max_values)}")
            result = execute_sql(db_path, sql, timeout_s=1.0, max_rows=max_values)
            if result.ok and result.rows:
                samples[f"{table.name}.{col.name}"] = [r[0] for r in result.rows]
    return samples


def _collapse_whitespace(text: str) -> str:
    """Runs of whitespace become one space, except inside quoted strings and names, where they are data."""
    pieces = re.split(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")""", text)
    return "".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(pieces)).strip()


def build_prompt(schema: Schema, question: str, sample_values: Mapping | None = None, max_values: int = 3) -> str:
    """``<|schema|> {schema} <|question|> {question} <|sql|>``: what the model reads before writing SQL.

    >>> from t2sql_lib.schema import Column, Schema, Table
    >>> schema = Schema("music", (Table("singer", (Column("singer_id", "integer"), Column("name"))),))
    >>> build_prompt(schema, "How many singers are there?")
    '<|schema|> singer(singer_id integer, name text) <|question|> How many singers are there? <|sql|>'
    """
    text = serialize_schema(schema, sample_values=sample_values, max_values=max_values)
    return f"{SCHEMA} {text} {question_text(question)}"


def question_text(question: str) -> str:
    """``<|question|> {question} <|sql|>``, the end of every prompt (whitespace tidied); a training sequence that asks
    several questions after one schema (``sft.SharedSchemaBatches``) cuts the prompt at it."""
    return f"{QUESTION} {' '.join(question.split())} {SQL}"


def build_target(sql: str) -> str:
    """`` {sql}<|endoftext|>``: what the model learns to write after the prompt (whitespace tidied).

    >>> build_target("SELECT name ,  country FROM singer")
    ' SELECT name , country FROM singer<|endoftext|>'
    """
    return f" {_collapse_whitespace(sql)}{ENDOFTEXT}"


def build_example_text(example: Example, sample_values: Mapping | None = None, max_values: int = 3) -> str:
    """Prompt and target of an ``Example`` joined: one training text."""
    return build_prompt(example.schema, example.question, sample_values, max_values) + build_target(example.sql)
