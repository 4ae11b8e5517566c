"""Value hints: the database values a question mentions, spelt as the database stores them, added to the question.

People write "hotels in fairhaven", "guests from japan", "Portugese customers"; the database stores
``'Fairhaven'``, ``'Japan'``, ``'Portugal'``. A model that copies values from the question writes
``city = 'fairhaven'``, which matches no row. Before the model reads a question, ``value_hints`` looks the
question's words up in the text columns of its database (case-insensitively, and one slip of the fingers or a
changed ending away for long single words) and appends what it found, with the column it was found in::

    hotels in fairhaven? | values: hotels.city = 'Fairhaven'

The model then copies the value, and often the column, from the hint. This is schema linking by value, as
text-to-SQL systems do it for Spider (BRIDGE's anchor texts); it reads only the database, never the gold SQL.
``add_value_hints`` applies it to examples; a model trained with hints is asked with them (``t2sql ask`` reads
the model folder's ``value_hints`` setting).
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from .prompts import quote_name
from .schema import Example, Schema

HINT_MARK = " | values: "
MAX_HINTS = 4  # a question rarely names more values; more hints cost tokens and add wrong ones
MAX_VALUES_PER_COLUMN = 5000  # a column with more distinct values is read up to this many
_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, every run of other characters one space: ``"O'Brien  Ltd."`` -> ``"o brien ltd"``."""
    return " ".join(_WORD.findall(text.lower()))


@dataclasses.dataclass
class ValueIndex:
    """The text values of one database, looked up by their normalized words."""

    exact: dict[str, list[tuple[str, str, str]]]  # normalized value -> (table, column, value)
    by_start: dict[str, list[tuple[str, str, str, str]]]  # one-word values of 5+ letters by their first 2 letters
    longest: int  # the most words in a value


@lru_cache(maxsize=256)  # Spider's training split spans 140 databases
def value_index(db_path: str, schema: Schema) -> ValueIndex:
    """The distinct text values of every column of ``schema`` in ``db_path`` (read-only), indexed."""
    exact: dict[str, list[tuple[str, str, str]]] = {}
    by_start: dict[str, list[tuple[str, str, str, str]]] = {}
    uri = f"file:{Path(db_path).resolve()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        for table in schema.tables:
            for col in table.columns:
                sql = (f"SELECT DISTINCT {quote_name(col.name)} FROM {quote_name(table.name)} "
                       f"WHERE typeof({quote_name(col.name)}) = 'text' LIMIT {MAX_VALUES_PER_COLUMN}")
                try:
                    rows = conn.execute(sql).fetchall()
                except sqlite3.Error:  # a schema that does not match the file: no hints from that column
                    continue
                for (value,) in rows:
                    norm = normalize(value)
                    if len(norm) < 3 or re.fullmatch(r"[\d ]+", norm):  # numbers and dates are not hinted
                        continue
                    exact.setdefault(norm, []).append((table.name, col.name, value))
                    if " " not in norm and len(norm) >= 5:
                        by_start.setdefault(norm[:2], []).append((norm, table.name, col.name, value))
    longest = max((k.count(" ") + 1 for k in exact), default=0)
    return ValueIndex(exact, by_start, longest)


def _close(word: str, value: str) -> bool:
    """A long question word that is the value with one slip of the fingers, or with another ending."""
    if min(len(word), len(value)) < 5 or word == value:
        return False
    prefix = len(_common_prefix(word, value))
    if prefix >= max(5, len(value) - 2) and abs(len(word) - len(value)) <= 3:  # "portugese" / "portugal"
        return True
    return len(word) == len(value) and sum(a != b for a, b in zip(word, value)) == 1 or _one_edit(word, value)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _one_edit(a: str, b: str) -> bool:
    """One letter dropped or added, or two neighbours swapped."""
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def find_values(question: str, db_path: str | Path, schema: Schema) -> list[tuple[str, str, str]]:
    """``(table, column, value)`` of the database values the question names, longest first, at most
    ``MAX_HINTS``: a whole value written in the question (any case), else a long one-word value one slip away."""
    index = value_index(str(db_path), schema)
    words = normalize(question).split()
    found: list[tuple[int, int, int, tuple[str, str, str]]] = []  # (-length, start, end, value)
    for n in range(min(index.longest, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            for hit in index.exact.get(" ".join(words[i:i + n]), ()):
                found.append((-n * 100, i, i + n, hit))
    for i, w in enumerate(words):
        if len(w) >= 5 and w not in index.exact:
            for norm, table, column, value in index.by_start.get(w[:2], ()):
                if _close(w, norm):
                    found.append((-len(norm), i, i + 1, (table, column, value)))
    found.sort()
    kept: list[tuple[str, str, str]] = []
    covered: set[int] = set()
    for _, start, end, hit in found:
        span = set(range(start, end))
        if span & covered and not any(hit[2] == k[2] for k in kept):  # words another, longer value took
            continue
        if hit not in kept:
            kept.append(hit)
            covered |= span
        if len(kept) == MAX_HINTS:
            break
    return kept


def hint_text(values: Sequence[tuple[str, str, str]]) -> str:
    """``" | values: hotels.city = 'Fairhaven'; guests.country = 'Japan'"``, or ``""`` for no values."""
    if not values:
        return ""
    return HINT_MARK + "; ".join(f"{t}.{c} = '" + v.replace("'", "''") + "'" for t, c, v in values)


def with_value_hints(question: str, db_path: str | Path, schema: Schema) -> str:
    """``question`` followed by its value hints (unchanged when it names no value of the database)."""
    return question + hint_text(find_values(question, db_path, schema))


def add_value_hints(examples: Sequence[Example]) -> list[Example]:
    """``examples`` with value hints appended to their questions; ``meta["plain_question"]`` keeps the original.
    Examples without a database file are left as they are."""
    out = []
    for ex in examples:
        if ex.db_path is None or not Path(ex.db_path).is_file():
            out.append(ex)
            continue
        hinted = with_value_hints(ex.question, ex.db_path, ex.schema)
        out.append(ex if hinted == ex.question else
                   dataclasses.replace(ex, question=hinted, meta={**ex.meta, "plain_question": ex.question}))
    return out
