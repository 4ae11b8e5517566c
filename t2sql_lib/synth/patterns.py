"""Question/SQL patterns: schema-generic templates that turn a database's rows into examples.

A pattern looks at column *roles* (see ``domains``) and foreign-key links, never at a particular
database, so the held-out databases get the same patterns over new names. Each pattern draws real
values from the rows, writes the SQL, several phrasings of the question, and computes the answer in
plain Python (not through SQL), so a test can check that SQLite returns exactly that answer.

SQL style, kept uniform because a small model learns from it: uppercase keywords, single-quoted
strings, plain table names in one-table queries and ``T1``/``T2``/``T3`` aliases in joins.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .domains import ColumnSpec, Domain, TableSpec


# ---------------------------------------------------------------- the rows a pattern reads
@dataclass
class TableData:
    """A table's spec and its generated rows (tuples in column order)."""

    spec: TableSpec
    rows: list[tuple]
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {c.name: i for i, c in enumerate(self.spec.columns)}

    @property
    def name(self) -> str:
        """The table's SQL name."""
        return self.spec.name

    def values(self, col: ColumnSpec) -> list[Any]:
        """Every row's value of ``col``."""
        i = self.index[col.name]
        return [r[i] for r in self.rows]

    def get(self, row: tuple, col: ColumnSpec) -> Any:
        """``row``'s value of ``col``."""
        return row[self.index[col.name]]


@dataclass
class Link:
    """A foreign key: ``child.column`` references ``parent``'s primary key."""

    child: TableData
    column: ColumnSpec
    parent: TableData


@dataclass
class DbContext:
    """Everything a pattern needs about one database: its domain, tables with rows, and links."""

    domain: Domain
    tables: list[TableData]
    links: list[Link] = field(init=False)

    def __post_init__(self) -> None:
        by_name = {t.name: t for t in self.tables}
        self.links = [Link(t, c, by_name[c.ref]) for t in self.tables for c in t.spec.by_role("fk")]


@dataclass
class Draft:
    """One instance of a pattern: SQL, its phrasings, and the answer computed in Python."""

    sql: str
    questions: list[str]
    answer: list[tuple]
    ordered: bool = False  # True when the SQL's ORDER BY fixes the row order (no ties by construction)


PatternFn = Callable[[DbContext, random.Random], "Draft | None"]


@dataclass(frozen=True)
class Pattern:
    """A named pattern and the function that draws one instance (None when it does not apply)."""

    name: str
    family: str
    fn: PatternFn


PATTERNS: dict[str, Pattern] = {}


def pattern(name: str, family: str) -> Callable[[PatternFn], PatternFn]:
    """Register a pattern function under ``name`` in ``PATTERNS``."""

    def register(fn: PatternFn) -> PatternFn:
        if name in PATTERNS:
            raise ValueError(f"pattern {name!r} registered twice")
        PATTERNS[name] = Pattern(name, family, fn)
        return fn

    return register


# ---------------------------------------------------------------- small helpers
def lit(value: Any) -> str:
    """A SQL literal: strings single-quoted (quotes doubled), whole floats written without ``.0``."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return num(value)


def num(value: Any) -> str:
    """A number as questions and SQL write it: ``12.5``, ``85000`` (not ``85000.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def a(words: str) -> str:
    """``words`` with its indefinite article: ``a price``, ``an elevation``."""
    lower = words.lower()
    vowel_sound = (lower[0] in "aeiou" and not lower.startswith(("uni", "use", "usu", "eu", "one"))) \
        or lower.startswith(("hour", "honest"))
    return ("an " if vowel_sound else "a ") + words


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def long_date(iso: str) -> str:
    """``2021-03-04`` -> ``4 March 2021`` (one phrasing per date pattern uses it)."""
    d = dt.date.fromisoformat(iso)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"  # not strftime("%B"): that follows the locale


def or_list(values: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def and_list(values: list[str]) -> str:
    """``a and b``, ``a, b and c``."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def between(lo: float, hi: float) -> float:
    """The shortest decimal strictly between two reals (``22.61``, ``22.65`` -> ``22.63``).

    Thresholds on real columns sit in a gap between stored values, never on one: whether a row equal
    to the threshold passes ``>`` would hang on how SQLite parses the literal, to the last bit.
    """
    mid = (lo + hi) / 2
    for digits in range(0, 8):
        x = round(mid, digits)
        if lo < x < hi and min(x - lo, hi - x) > 1e-6 * max(1.0, abs(x)):
            return float(x)
    return mid


def middle_value(values: list[Any], rng: random.Random) -> Any | None:
    """A threshold in the middle of the values, so both sides of a comparison have rows.

    Integers and dates use a stored value (exact comparisons); reals use a value between two stored ones.
    """
    distinct = sorted(set(values))
    if len(distinct) < 3:
        return None
    lo = max(1, len(distinct) // 5)
    hi = min(len(distinct) - 2, len(distinct) - 1 - len(distinct) // 5)
    i = rng.randint(lo, max(lo, hi))
    return between(distinct[i], distinct[i + 1]) if isinstance(distinct[i], float) else distinct[i]


def threshold_at(distinct: list[Any], i: int) -> Any:
    """``distinct[i]`` as a ``>`` threshold: itself for integers, the gap above it for reals."""
    value = distinct[i]
    return between(value, distinct[i + 1]) if isinstance(value, float) else value


def near(x: float, values: Iterable[float]) -> bool:
    """True when some value is within rounding noise of ``x`` (SQLite and Python may sum differently)."""
    return any(abs(v - x) <= 1e-9 * max(1.0, abs(x)) for v in values)


def pick(options: list, rng: random.Random) -> Any | None:
    """A random element, or None for an empty list."""
    return rng.choice(options) if options else None


def tables_with(ctx: DbContext, rng: random.Random, *roles: str, label: bool = True) -> TableData | None:
    """A random table that has a label (when asked) and a column for every role in ``roles``."""
    fits = [t for t in ctx.tables
            if (not label or t.spec.label) and all(t.spec.by_role(r) for r in roles)]
    return pick(fits, rng)


NUMERIC = ("measure", "ordinal")
NON_KEY = ("label", "category", "measure", "ordinal", "date")
AGG_WORDS = {"AVG": "average", "SUM": "total", "MAX": "highest", "MIN": "lowest"}


def aggregate(func: str, values: list[Any]) -> Any:
    """SQLite's AVG/SUM/MAX/MIN/COUNT over a non-empty list, in Python."""
    if func == "AVG":
        return sum(values) / len(values)
    if func == "SUM":
        return sum(values)
    if func == "MAX":
        return max(values)
    if func == "MIN":
        return min(values)
    if func == "COUNT":
        return len(values)
    raise ValueError(func)


def agg_for(col: ColumnSpec, rng: random.Random) -> str:
    """An aggregate that makes sense for ``col``: sums and averages only for measures."""
    return rng.choice(("AVG", "SUM", "MAX", "MIN") if col.role == "measure" else ("MAX", "MIN"))


def unique_order(keys: list[Any], upto: int | None = None) -> bool:
    """True when sorting by ``keys`` (already sorted) has no ties within the first ``upto`` + 1 rows."""
    head = keys if upto is None else keys[: upto + 1]
    return len(set(head)) == len(head)


# ---------------------------------------------------------------- projection
@pattern("select_all", "projection")
def _select_all(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    if t is None:
        return None
    s = t.spec
    return Draft(f"SELECT * FROM {s.name}",
                 [f"List all {s.plural}.", f"Show every column of the {s.name} table.",
                  f"Give me all the information about every {s.singular}."],
                 list(t.rows))


@pattern("project_column", "projection")
def _project_column(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, label=False)
    s = t.spec
    x = pick(s.by_role(*NON_KEY), rng)
    if x is None:
        return None
    return Draft(f"SELECT {x.name} FROM {s.name}",
                 [f"List the {x.words} of every {s.singular}.", f"What is the {x.words} of each {s.singular}?",
                  f"Show the {x.words} for all {s.plural}."],
                 [(v,) for v in t.values(x)])


@pattern("project_two_columns", "projection")
def _project_two_columns(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    s = t.spec if t else None
    x = pick([c for c in s.by_role(*NON_KEY) if c.role != "label"], rng) if s else None
    if x is None:
        return None
    lab = s.label
    return Draft(f"SELECT {lab.name}, {x.name} FROM {s.name}",
                 [f"List the {lab.words} and {x.words} of every {s.singular}.",
                  f"For each {s.singular}, show its {lab.words} and {x.words}.",
                  f"What are the {lab.words} and the {x.words} of all {s.plural}?"],
                 [(t.get(r, lab), t.get(r, x)) for r in t.rows])


@pattern("distinct_category", "projection")
def _distinct_category(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    return Draft(f"SELECT DISTINCT {c.name} FROM {s.name}",
                 [f"List the distinct {c.words} values of the {s.plural}.",
                  f"Which different {c.words} values appear among the {s.plural}?",
                  f"Show each {c.words} that some {s.singular} has, without repeats."],
                 [(v,) for v in set(t.values(c))])


# ---------------------------------------------------------------- WHERE on numbers, text and dates
_NUMBER_OPS: dict[str, tuple[Callable[[Any, Any], bool], tuple[str, str, str]]] = {
    ">": (lambda v, x: v > x, ("greater than", "more than", "above")),
    "<": (lambda v, x: v < x, ("less than", "below", "under")),
    ">=": (lambda v, x: v >= x, ("of at least", "no less than", "greater than or equal to")),
    "<=": (lambda v, x: v <= x, ("of at most", "no more than", "less than or equal to")),
    "=": (lambda v, x: v == x, ("of exactly", "exactly", "equal to")),
}


def _where_number(ctx: DbContext, rng: random.Random, op: str) -> Draft | None:
    t = tables_with(ctx, rng, "measure") or tables_with(ctx, rng, "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    # equality only on integers: a real literal equals the stored double only if parsed to the last bit
    columns = [c for c in s.by_role(*NUMERIC) if op != "=" or c.type == "integer"]
    if not columns:
        return None
    m = rng.choice(columns)
    if op in ("=", ">=", "<=") and m.type == "integer":
        x = rng.choice(t.values(m)) if op == "=" else middle_value(t.values(m), rng)
    else:
        x = middle_value(t.values(m), rng)
    if x is None:
        return None
    test, words = _NUMBER_OPS[op]
    i = t.index[lab.name]
    j = t.index[m.name]
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {m.name} {op} {num(x)}",
                 [f"Which {s.plural} have {a(m.words)} {words[0]} {num(x)}?",
                  f"List the {lab.words} of {s.plural} whose {m.words} is {words[1]} {num(x)}.",
                  f"Find every {s.singular} with {m.words} {words[2]} {num(x)} and show its {lab.words}."],
                 [(r[i],) for r in t.rows if test(r[j], x)])


pattern("where_number_greater", "where")(lambda ctx, rng: _where_number(ctx, rng, ">"))
pattern("where_number_less", "where")(lambda ctx, rng: _where_number(ctx, rng, "<"))
pattern("where_number_at_least", "where")(lambda ctx, rng: _where_number(ctx, rng, ">="))
pattern("where_number_at_most", "where")(lambda ctx, rng: _where_number(ctx, rng, "<="))
pattern("where_number_equals", "where")(lambda ctx, rng: _where_number(ctx, rng, "="))


@pattern("where_text_equals", "where")
def _where_text_equals(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    v = rng.choice(t.values(c))
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} = {lit(v)}",
                 [f"Which {s.plural} have {c.words} {v}?",
                  f"List the {lab.words} of every {s.singular} whose {c.words} is {v}.",
                  f"Show the {lab.words} of the {s.plural} with {c.words} equal to {v}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, c) == v])


@pattern("where_text_not_equals", "where")
def _where_text_not_equals(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    v = rng.choice(t.values(c))
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} != {lit(v)}",
                 [f"Which {s.plural} do not have {c.words} {v}?",
                  f"List the {lab.words} of {s.plural} whose {c.words} is not {v}.",
                  f"Find every {s.singular} with {a(c.words)} other than {v}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, c) != v])


@pattern("lookup_by_label", "where")
def _lookup_by_label(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    s = t.spec if t else None
    x = pick([c for c in s.by_role(*NON_KEY) if c.role != "label"], rng) if s else None
    if x is None:
        return None
    lab = s.label
    row = rng.choice(t.rows)
    v = t.get(row, lab)
    return Draft(f"SELECT {x.name} FROM {s.name} WHERE {lab.name} = {lit(v)}",
                 [f"What is the {x.words} of the {s.singular} {v}?",
                  f"Give the {x.words} of the {s.singular} whose {lab.words} is {v}.",
                  f"For the {s.singular} called {v}, what is its {x.words}?"],
                 [(t.get(r, x),) for r in t.rows if t.get(r, lab) == v])


def _where_date(ctx: DbContext, rng: random.Random, after: bool) -> Draft | None:
    t = tables_with(ctx, rng, "date")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    d = rng.choice(s.by_role("date"))
    x = middle_value(t.values(d), rng)
    if x is None:
        return None
    op, w1, w2 = (">", "after", "later than") if after else ("<", "before", "earlier than")
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {d.name} {op} {lit(x)}",
                 [f"Which {s.plural} have {a(d.words)} {w1} {x}?",
                  f"List the {lab.words} of {s.plural} whose {d.words} is {w2} {x}.",
                  f"Find the {s.plural} with {a(d.words)} {w1} {long_date(x)}."],
                 [(t.get(r, lab),) for r in t.rows if (t.get(r, d) > x if after else t.get(r, d) < x)])


pattern("where_date_after", "where")(lambda ctx, rng: _where_date(ctx, rng, True))
pattern("where_date_before", "where")(lambda ctx, rng: _where_date(ctx, rng, False))


def _multi_year(ctx: DbContext, rng: random.Random, label: bool) -> tuple[TableData, ColumnSpec] | None:
    """A table and a date column whose dates span several years (a one-year column makes "in 2024" trivial)."""
    fits = [(t, d) for t in ctx.tables if t.spec.label or not label for d in t.spec.by_role("date")
            if len({v[:4] for v in t.values(d)}) > 1]
    return pick(fits, rng)


@pattern("where_date_year", "where")
def _where_date_year(ctx: DbContext, rng: random.Random) -> Draft | None:
    found = _multi_year(ctx, rng, label=True)
    if found is None:
        return None
    t, d = found
    s, lab = t.spec, t.spec.label
    year = rng.choice(t.values(d))[:4]
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE STRFTIME('%Y', {d.name}) = {lit(year)}",
                 [f"Which {s.plural} have {a(d.words)} in {year}?",
                  f"List the {lab.words} of {s.plural} whose {d.words} falls in the year {year}.",
                  f"Show the {s.plural} with {a(d.words)} during {year}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, d)[:4] == year])


@pattern("where_and", "where")
def _where_and(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure") or tables_with(ctx, rng, "category", "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    v = rng.choice(t.values(c))
    in_group = sorted({t.get(r, m) for r in t.rows if t.get(r, c) == v})
    if len(in_group) < 2:
        return None
    x = threshold_at(in_group, rng.randrange(len(in_group) - 1))
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} = {lit(v)} AND {m.name} > {num(x)}",
                 [f"Which {s.plural} have {c.words} {v} and {a(m.words)} above {num(x)}?",
                  f"List the {lab.words} of {s.plural} whose {c.words} is {v} and whose {m.words} is "
                  f"greater than {num(x)}.",
                  f"Find {s.plural} with {c.words} {v} and {m.words} more than {num(x)}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, c) == v and t.get(r, m) > x])


@pattern("where_or", "where")
def _where_or(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure") or tables_with(ctx, rng, "category", "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    v = rng.choice(t.values(c))
    values = sorted(set(t.values(m)))
    if len(values) < 5:
        return None
    x = threshold_at(values, rng.randint(len(values) * 7 // 10, len(values) - 2))  # high: OR adds a few rows
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} = {lit(v)} OR {m.name} > {num(x)}",
                 [f"Which {s.plural} either have {c.words} {v} or {a(m.words)} above {num(x)}?",
                  f"List the {lab.words} of {s.plural} whose {c.words} is {v} or whose {m.words} is "
                  f"greater than {num(x)}.",
                  f"Find the {s.plural} that have {c.words} {v} or {m.words} more than {num(x)}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, c) == v or t.get(r, m) > x])


@pattern("between_numbers", "where")
def _between_numbers(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure") or tables_with(ctx, rng, "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m = rng.choice(s.by_role(*NUMERIC))
    values = sorted(set(t.values(m)))
    if len(values) < 4:
        return None
    i = rng.randrange(1, len(values) - 2)
    j = rng.randrange(i + 1, min(len(values) - 1, i + 1 + max(2, len(values) // 3)))
    lo, hi = values[i], values[j]
    if isinstance(lo, float):  # real bounds sit in the gaps around the chosen values (see ``between``)
        lo, hi = between(values[i - 1], lo), between(hi, values[j + 1])
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {m.name} BETWEEN {num(lo)} AND {num(hi)}",
                 [f"Which {s.plural} have {a(m.words)} between {num(lo)} and {num(hi)}?",
                  f"List the {lab.words} of {s.plural} whose {m.words} is between {num(lo)} and {num(hi)} "
                  f"inclusive.",
                  f"Find the {s.plural} with {m.words} from {num(lo)} to {num(hi)}."],
                 [(t.get(r, lab),) for r in t.rows if lo <= t.get(r, m) <= hi])


@pattern("between_dates", "where")
def _between_dates(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "date")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    d = rng.choice(s.by_role("date"))
    values = sorted(set(t.values(d)))
    if len(values) < 4:
        return None
    i = rng.randrange(len(values) - 1)
    j = rng.randrange(i + 1, min(len(values), i + 1 + max(2, len(values) // 3)))
    lo, hi = values[i], values[j]
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {d.name} BETWEEN {lit(lo)} AND {lit(hi)}",
                 [f"Which {s.plural} have {a(d.words)} between {lo} and {hi}?",
                  f"List the {lab.words} of {s.plural} whose {d.words} is from {lo} to {hi}.",
                  f"Find the {s.plural} with {a(d.words)} between {long_date(lo)} and {long_date(hi)}."],
                 [(t.get(r, lab),) for r in t.rows if lo <= t.get(r, d) <= hi])


# ---------------------------------------------------------------- LIKE, IN
def _prefix(label_value: str, rng: random.Random) -> str:
    return label_value[: rng.randint(1, 3)].rstrip() or label_value[0]


@pattern("like_starts_with", "like")
def _like_starts_with(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    p = _prefix(t.get(rng.choice(t.rows), lab), rng)
    # SQLite's LIKE ignores ASCII case, so the Python answer compares lower-cased strings
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {lab.name} LIKE {lit(p + '%')}",
                 [f"Which {s.plural} have {a(lab.words)} starting with {p}?",
                  f"List the {s.plural} whose {lab.words} begins with \"{p}\".",
                  f"Find every {s.singular} with {a(lab.words)} that starts with the letters {p}."],
                 [(v,) for v in t.values(lab) if v.lower().startswith(p.lower())])


@pattern("like_not_starts_with", "like")
def _like_not_starts_with(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    p = _prefix(t.get(rng.choice(t.rows), lab), rng)
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {lab.name} NOT LIKE {lit(p + '%')}",
                 [f"Which {s.plural} have {a(lab.words)} that does not start with {p}?",
                  f"List the {s.plural} whose {lab.words} does not begin with \"{p}\".",
                  f"Find the {s.plural} except those whose {lab.words} starts with {p}."],
                 [(v,) for v in t.values(lab) if not v.lower().startswith(p.lower())])


@pattern("like_contains", "like")
def _like_contains(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng)
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    words = [w for w in t.get(rng.choice(t.rows), lab).split() if len(w) >= 3 and w.isalpha()]
    if not words:
        return None
    w = rng.choice(words)
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {lab.name} LIKE {lit('%' + w + '%')}",
                 [f"Which {s.plural} have {a(lab.words)} containing {w}?",
                  f"List the {s.plural} whose {lab.words} includes \"{w}\".",
                  f"Find the {s.plural} with {w} in their {lab.words}."],
                 [(v,) for v in t.values(lab) if w.lower() in v.lower()])


def _in_list(ctx: DbContext, rng: random.Random, negate: bool) -> Draft | None:
    t = tables_with(ctx, rng, "category")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    distinct = sorted(set(t.values(c)))
    if len(distinct) < 3:
        return None
    chosen = rng.sample(distinct, rng.randint(2, min(3, len(distinct) - 1)))
    keep = set(chosen)
    sql_list = ", ".join(lit(v) for v in chosen)
    if negate:
        return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} NOT IN ({sql_list})",
                     [f"Which {s.plural} have {a(c.words)} other than {or_list(chosen)}?",
                      f"List the {lab.words} of {s.plural} whose {c.words} is not one of {and_list(chosen)}.",
                      f"Find the {s.plural} whose {c.words} is neither {' nor '.join(chosen)}."],
                     [(t.get(r, lab),) for r in t.rows if t.get(r, c) not in keep])
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} IN ({sql_list})",
                 [f"Which {s.plural} have {c.words} {or_list(chosen)}?",
                  f"List the {lab.words} of {s.plural} whose {c.words} is one of {and_list(chosen)}.",
                  f"Find the {s.plural} with {a(c.words)} of either {or_list(chosen)}."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, c) in keep])


pattern("in_list", "in")(lambda ctx, rng: _in_list(ctx, rng, False))
pattern("not_in_list", "in")(lambda ctx, rng: _in_list(ctx, rng, True))


# ---------------------------------------------------------------- aggregates
@pattern("count_rows", "aggregate")
def _count_rows(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = rng.choice(ctx.tables)
    s = t.spec
    return Draft(f"SELECT COUNT(*) FROM {s.name}",
                 [f"How many {s.plural} are there?", f"Count the {s.plural}.",
                  f"What is the total number of {s.plural}?"],
                 [(len(t.rows),)])


@pattern("count_where_text", "aggregate")
def _count_where_text(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    v = rng.choice(t.values(c))
    return Draft(f"SELECT COUNT(*) FROM {s.name} WHERE {c.name} = {lit(v)}",
                 [f"How many {s.plural} have {c.words} {v}?",
                  f"Count the {s.plural} whose {c.words} is {v}.",
                  f"What is the number of {s.plural} with {c.words} equal to {v}?"],
                 [(sum(1 for x in t.values(c) if x == v),)])


@pattern("count_where_number", "aggregate")
def _count_where_number(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure", label=False) or tables_with(ctx, rng, "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    m = rng.choice(s.by_role(*NUMERIC))
    x = middle_value(t.values(m), rng)
    if x is None:
        return None
    op = rng.choice((">", "<"))
    test, words = _NUMBER_OPS[op]
    return Draft(f"SELECT COUNT(*) FROM {s.name} WHERE {m.name} {op} {num(x)}",
                 [f"How many {s.plural} have {a(m.words)} {words[0]} {num(x)}?",
                  f"Count the {s.plural} whose {m.words} is {words[1]} {num(x)}.",
                  f"What is the number of {s.plural} with {m.words} {words[2]} {num(x)}?"],
                 [(sum(1 for v in t.values(m) if test(v, x)),)])


@pattern("count_distinct", "aggregate")
def _count_distinct(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    return Draft(f"SELECT COUNT(DISTINCT {c.name}) FROM {s.name}",
                 [f"How many different {c.words} values do the {s.plural} have?",
                  f"Count the distinct {c.words} values among {s.plural}.",
                  f"What is the number of unique {c.words} values in the {s.name} table?"],
                 [(len(set(t.values(c))),)])


def _extreme(ctx: DbContext, rng: random.Random, func: str) -> Draft | None:
    t = tables_with(ctx, rng, "measure", label=False) or tables_with(ctx, rng, "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    m = rng.choice(s.by_role(*NUMERIC))
    hi = func == "MAX"
    w = ("highest", "maximum", "largest") if hi else ("lowest", "minimum", "smallest")
    return Draft(f"SELECT {func}({m.name}) FROM {s.name}",
                 [f"What is the {w[0]} {m.words} of any {s.singular}?",
                  f"Find the {w[1]} {m.words} among all {s.plural}.",
                  f"What is the {w[2]} {m.words} in the {s.name} table?"],
                 [(aggregate(func, t.values(m)),)])


pattern("max_value", "aggregate")(lambda ctx, rng: _extreme(ctx, rng, "MAX"))
pattern("min_value", "aggregate")(lambda ctx, rng: _extreme(ctx, rng, "MIN"))


@pattern("avg_value", "aggregate")
def _avg_value(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure", label=False)
    if t is None:
        return None
    s = t.spec
    m = rng.choice(s.by_role("measure"))
    return Draft(f"SELECT AVG({m.name}) FROM {s.name}",
                 [f"What is the average {m.words} of all {s.plural}?",
                  f"Find the mean {m.words} across the {s.plural}.",
                  f"On average, what {m.words} does {a(s.singular)} have?"],
                 [(aggregate("AVG", t.values(m)),)])


@pattern("sum_value", "aggregate")
def _sum_value(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure", label=False)
    if t is None:
        return None
    s = t.spec
    m = rng.choice(s.by_role("measure"))
    return Draft(f"SELECT SUM({m.name}) FROM {s.name}",
                 [f"What is the total {m.words} of all {s.plural}?",
                  f"Add up the {m.words} of every {s.singular}.",
                  f"Find the sum of the {m.words} over all {s.plural}."],
                 [(aggregate("SUM", t.values(m)),)])


@pattern("aggregate_where", "aggregate")
def _aggregate_where(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure", label=False) or \
        tables_with(ctx, rng, "category", "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    func = agg_for(m, rng)
    v = rng.choice(t.values(c))
    w = AGG_WORDS[func]
    return Draft(f"SELECT {func}({m.name}) FROM {s.name} WHERE {c.name} = {lit(v)}",
                 [f"What is the {w} {m.words} of {s.plural} with {c.words} {v}?",
                  f"Among {s.plural} whose {c.words} is {v}, what is the {w} {m.words}?",
                  f"Give the {w} {m.words} for the {s.plural} that have {c.words} {v}."],
                 [(aggregate(func, [t.get(r, m) for r in t.rows if t.get(r, c) == v]),)])


@pattern("min_max_pair", "aggregate")
def _min_max_pair(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure", label=False) or tables_with(ctx, rng, "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    m = rng.choice(s.by_role(*NUMERIC))
    values = t.values(m)
    return Draft(f"SELECT MIN({m.name}), MAX({m.name}) FROM {s.name}",
                 [f"What are the lowest and highest {m.words} among {s.plural}?",
                  f"Give the minimum and maximum {m.words} of the {s.plural}.",
                  f"Show the smallest and the largest {m.words} of any {s.singular}."],
                 [(min(values), max(values))])


@pattern("date_extreme", "aggregate")
def _date_extreme(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "date", label=False)
    if t is None:
        return None
    s = t.spec
    d = rng.choice(s.by_role("date"))
    if rng.random() < 0.5:
        return Draft(f"SELECT MIN({d.name}) FROM {s.name}",
                     [f"What is the earliest {d.words} of any {s.singular}?",
                      f"When is the first {d.words} among the {s.plural}?",
                      f"Find the oldest {d.words} in the {s.name} table."],
                     [(min(t.values(d)),)])
    return Draft(f"SELECT MAX({d.name}) FROM {s.name}",
                 [f"What is the latest {d.words} of any {s.singular}?",
                  f"When is the most recent {d.words} among the {s.plural}?",
                  f"Find the newest {d.words} in the {s.name} table."],
                 [(max(t.values(d)),)])


# ---------------------------------------------------------------- GROUP BY, HAVING
def _groups(t: TableData, key: ColumnSpec, value: ColumnSpec | None = None) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    ki = t.index[key.name]
    vi = t.index[value.name] if value else ki
    for r in t.rows:
        out[r[ki]].append(r[vi])
    return out


@pattern("group_count", "group")
def _group_count(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    return Draft(f"SELECT {c.name}, COUNT(*) FROM {s.name} GROUP BY {c.name}",
                 [f"How many {s.plural} are there for each {c.words}?",
                  f"Count the {s.plural} in each {c.words}.",
                  f"For every {c.words}, give the number of {s.plural}."],
                 [(k, len(v)) for k, v in _groups(t, c).items()])


@pattern("group_aggregate", "group")
def _group_aggregate(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure", label=False) or \
        tables_with(ctx, rng, "category", "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    func = agg_for(m, rng)
    w = AGG_WORDS[func]
    return Draft(f"SELECT {c.name}, {func}({m.name}) FROM {s.name} GROUP BY {c.name}",
                 [f"What is the {w} {m.words} of {s.plural} for each {c.words}?",
                  f"For each {c.words}, show the {w} {m.words} of its {s.plural}.",
                  f"Group the {s.plural} by {c.words} and give the {w} {m.words} of each group."],
                 [(k, aggregate(func, v)) for k, v in _groups(t, c, m).items()])


@pattern("group_by_year", "group")
def _group_by_year(ctx: DbContext, rng: random.Random) -> Draft | None:
    found = _multi_year(ctx, rng, label=False)
    if found is None:
        return None
    t, d = found
    s = t.spec
    years = Counter(v[:4] for v in t.values(d))
    return Draft(f"SELECT STRFTIME('%Y', {d.name}), COUNT(*) FROM {s.name} GROUP BY STRFTIME('%Y', {d.name})",
                 [f"How many {s.plural} are there per year of {d.words}?",
                  f"For each year, count the {s.plural} by their {d.words}.",
                  f"Count the {s.plural} grouped by the year of their {d.words}."],
                 list(years.items()))


@pattern("having_count", "group")
def _having_count(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    counts = Counter(t.values(c))
    sizes = sorted(set(counts.values()))
    if len(sizes) < 2:
        return None
    k = rng.choice(sizes[:-1])
    return Draft(f"SELECT {c.name} FROM {s.name} GROUP BY {c.name} HAVING COUNT(*) > {k}",
                 [f"Which {c.words} values have more than {k} {s.plural}?",
                  f"List each {c.words} shared by more than {k} {s.plural}.",
                  f"Find the {c.words} values that appear in over {k} {s.plural}."],
                 [(v,) for v, n in counts.items() if n > k])


@pattern("having_aggregate", "group")
def _having_aggregate(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role("measure"))
    func = rng.choice(("AVG", "SUM", "MAX"))
    groups = {k: aggregate(func, v) for k, v in _groups(t, c, m).items()}
    if len(groups) < 2:
        return None
    ranked = sorted(groups.values())
    x = round(rng.choice(ranked[:-1]), 1 if m.type == "real" or func == "AVG" else 0)
    if isinstance(x, float) and m.type == "integer" and func != "AVG":
        x = int(x)
    answer = [(k,) for k, v in groups.items() if v > x]
    if not answer or (isinstance(x, float) and near(x, groups.values())):
        return None
    w = AGG_WORDS[func]
    return Draft(f"SELECT {c.name} FROM {s.name} GROUP BY {c.name} HAVING {func}({m.name}) > {num(x)}",
                 [f"Which {c.words} values have {a(w)} {m.words} above {num(x)}?",
                  f"List each {c.words} whose {s.plural} have {a(w)} {m.words} greater than {num(x)}.",
                  f"For which {c.words} is the {w} {m.words} of its {s.plural} more than {num(x)}?"],
                 answer)


# ---------------------------------------------------------------- ORDER BY, LIMIT, superlatives
def _order_words(col: ColumnSpec, desc: bool) -> str:
    if col.role == "date":
        return f"from the latest to the earliest {col.words}" if desc else \
            f"from the earliest to the latest {col.words}"
    return f"from the highest to the lowest {col.words}" if desc else f"from the lowest to the highest {col.words}"


def _direction(desc: bool) -> str:
    return "DESC" if desc else "ASC"


@pattern("order_all", "order")
def _order_all(ctx: DbContext, rng: random.Random) -> Draft | None:
    fits = [(t, c) for t in ctx.tables if t.spec.label for c in t.spec.by_role(*NUMERIC) if c.unique]
    if not fits:
        return None
    t, m = rng.choice(fits)
    s, lab = t.spec, t.spec.label
    desc = rng.random() < 0.5
    rows = sorted(t.rows, key=lambda r: t.get(r, m), reverse=desc)
    if not unique_order([t.get(r, m) for r in rows]):
        return None
    word = "descending" if desc else "ascending"
    return Draft(f"SELECT {lab.name}, {m.name} FROM {s.name} ORDER BY {m.name} {_direction(desc)}",
                 [f"List all {s.plural} with their {m.words}, {_order_words(m, desc)}.",
                  f"Show the {lab.words} and {m.words} of every {s.singular}, sorted by {m.words} in {word} "
                  f"order.",
                  f"Order the {s.plural} by {m.words} ({word}) and show each one's {lab.words} and {m.words}."],
                 [(t.get(r, lab), t.get(r, m)) for r in rows], ordered=True)


@pattern("order_filtered", "order")
def _order_filtered(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    keys = s.by_role("measure", "ordinal", "date")
    if not keys:
        return None
    c = rng.choice(s.by_role("category"))
    for _ in range(4):  # a few tries to find a group whose order key has no ties
        v = rng.choice(t.values(c))
        m = rng.choice(keys)
        desc = rng.random() < 0.5
        rows = sorted((r for r in t.rows if t.get(r, c) == v), key=lambda r: t.get(r, m), reverse=desc)
        if len(rows) >= 2 and unique_order([t.get(r, m) for r in rows]):
            break
    else:
        return None
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} = {lit(v)} ORDER BY {m.name} {_direction(desc)}",
                 [f"List the {lab.words} of {s.plural} with {c.words} {v}, {_order_words(m, desc)}.",
                  f"Show the {s.plural} whose {c.words} is {v}, sorted by {m.words} "
                  f"{'descending' if desc else 'ascending'}.",
                  f"Among {s.plural} with {c.words} {v}, give their {lab.words} ordered by {m.words}"
                  f"{', largest first' if desc else ', smallest first'}."],
                 [(t.get(r, lab),) for r in rows], ordered=True)


@pattern("top_k", "order")
def _top_k(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure") or tables_with(ctx, rng, "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m = rng.choice(s.by_role(*NUMERIC))
    k = rng.choice((2, 3, 5))
    desc = rng.random() < 0.6
    rows = sorted(t.rows, key=lambda r: t.get(r, m), reverse=desc)
    if len(rows) <= k or not unique_order([t.get(r, m) for r in rows], upto=k):
        return None
    most = ("highest", "top", "largest") if desc else ("lowest", "bottom", "smallest")
    return Draft(f"SELECT {lab.name} FROM {s.name} ORDER BY {m.name} {_direction(desc)} LIMIT {k}",
                 [f"Which {k} {s.plural} have the {most[0]} {m.words}?",
                  f"List the {lab.words} of the {most[1]} {k} {s.plural} by {m.words}.",
                  f"Show the {k} {s.plural} with the {most[2]} {m.words}, {most[2]} first."],
                 [(t.get(r, lab),) for r in rows[:k]], ordered=True)


def _superlative(ctx: DbContext, rng: random.Random, desc: bool, roles: tuple[str, ...]) -> Draft | None:
    t = tables_with(ctx, rng, *roles[:1]) if len(roles) == 1 else \
        (tables_with(ctx, rng, "measure") or tables_with(ctx, rng, "ordinal"))
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m = rng.choice(s.by_role(*roles))
    rows = sorted(t.rows, key=lambda r: t.get(r, m), reverse=desc)
    if not unique_order([t.get(r, m) for r in rows], upto=1):
        return None
    sql = f"SELECT {lab.name} FROM {s.name} ORDER BY {m.name} {_direction(desc)} LIMIT 1"
    answer = [(t.get(rows[0], lab),)]
    if m.role == "date":
        w = ("most recent", "latest", "newest") if desc else ("earliest", "oldest", "first")
    else:
        w = ("highest", "largest", "greatest") if desc else ("lowest", "smallest", "least")
    return Draft(sql, [f"Which {s.singular} has the {w[0]} {m.words}?",
                       f"What is the {lab.words} of the {s.singular} with the {w[1]} {m.words}?",
                       f"Find the {s.singular} whose {m.words} is the {w[2]}."],
                 answer, ordered=True)


pattern("superlative_max", "order")(lambda ctx, rng: _superlative(ctx, rng, True, NUMERIC))
pattern("superlative_min", "order")(lambda ctx, rng: _superlative(ctx, rng, False, NUMERIC))
pattern("date_superlative", "order")(lambda ctx, rng: _superlative(ctx, rng, rng.random() < 0.5, ("date",)))


@pattern("group_most_common", "order")
def _group_most_common(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    ranked = Counter(t.values(c)).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return Draft(f"SELECT {c.name} FROM {s.name} GROUP BY {c.name} ORDER BY COUNT(*) DESC LIMIT 1",
                 [f"Which {c.words} has the most {s.plural}?",
                  f"What is the most common {c.words} among the {s.plural}?",
                  f"Find the {c.words} shared by the largest number of {s.plural}."],
                 [(ranked[0][0],)], ordered=True)


# ---------------------------------------------------------------- nested subqueries (one table)
@pattern("subquery_compare_average", "nested")
def _subquery_compare_average(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m = rng.choice(s.by_role("measure"))
    mean = aggregate("AVG", t.values(m))
    if near(mean, t.values(m)):  # a row equal to the average would pass or fail on rounding noise
        return None
    above = rng.random() < 0.5
    op, w = (">", "above") if above else ("<", "below")
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {m.name} {op} (SELECT AVG({m.name}) FROM {s.name})",
                 [f"Which {s.plural} have {a(m.words)} {w} the average?",
                  f"List the {lab.words} of {s.plural} whose {m.words} is {w} the average {m.words} of all "
                  f"{s.plural}.",
                  f"Find the {s.plural} with {a(m.words)} {w} average."],
                 [(t.get(r, lab),) for r in t.rows if (t.get(r, m) > mean if above else t.get(r, m) < mean)])


@pattern("subquery_equals_extreme", "nested")
def _subquery_equals_extreme(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "measure") or tables_with(ctx, rng, "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m = rng.choice(s.by_role(*NUMERIC))
    func = rng.choice(("MAX", "MIN"))
    target = aggregate(func, t.values(m))
    w = "maximum" if func == "MAX" else "minimum"
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {m.name} = (SELECT {func}({m.name}) FROM {s.name})",
                 [f"List every {s.singular} whose {m.words} equals the {w} {m.words}.",
                  f"Which {s.plural} share the {w} {m.words} of all {s.plural}?",
                  f"Find all {s.plural} that have the {w} {m.words}, including any ties."],
                 [(t.get(r, lab),) for r in t.rows if t.get(r, m) == target])


# ---------------------------------------------------------------- JOINs over foreign keys
def _link(ctx: DbContext, rng: random.Random, parent_label: bool = True,
          need: Callable[[Link], bool] | None = None) -> Link | None:
    fits = [k for k in ctx.links if (not parent_label or k.parent.spec.label) and (need is None or need(k))]
    return pick(fits, rng)


def _join(k: Link) -> str:
    """``child AS T1 JOIN parent AS T2 ON T1.fk = T2.pk``."""
    return (f"{k.child.name} AS T1 JOIN {k.parent.name} AS T2 "
            f"ON T1.{k.column.name} = T2.{k.parent.spec.pk.name}")


def _parents_by_id(k: Link) -> dict[int, tuple]:
    return {r[0]: r for r in k.parent.rows}


def _shown_child_column(k: Link, rng: random.Random) -> ColumnSpec:
    """The child column a question shows: its label, else another readable column."""
    return k.child.spec.label or rng.choice(k.child.spec.by_role(*NON_KEY))


@pattern("join_project", "join")
def _join_project(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    x = _shown_child_column(k, rng)
    parents = _parents_by_id(k)
    fi = k.child.index[k.column.name]
    return Draft(f"SELECT T1.{x.name}, T2.{p.label.name} FROM {_join(k)}",
                 [f"List the {x.words} of each {c.singular} together with the {p.label.words} of its {p.singular}.",
                  f"For every {c.singular}, show its {x.words} and the {p.label.words} of the {p.singular} "
                  f"it belongs to.",
                  f"Show the {x.words} of all {c.plural} alongside their {p.singular}'s {p.label.words}."],
                 [(k.child.get(r, x), k.parent.get(parents[r[fi]], p.label)) for r in k.child.rows])


def _used_parent(k: Link, rng: random.Random) -> tuple:
    """A parent row that has at least one child."""
    fi = k.child.index[k.column.name]
    return _parents_by_id(k)[rng.choice(k.child.rows)[fi]]


@pattern("join_filter_parent_label", "join")
def _join_filter_parent_label(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    x = _shown_child_column(k, rng)
    v = k.parent.get(_used_parent(k, rng), p.label)
    ids = {r[0] for r in k.parent.rows if k.parent.get(r, p.label) == v}
    return Draft(f"SELECT T1.{x.name} FROM {_join(k)} WHERE T2.{p.label.name} = {lit(v)}",
                 [f"List the {x.words} of the {c.plural} whose {p.singular} is {v}.",
                  f"Which {c.plural} belong to the {p.singular} {v}? Show their {x.words}.",
                  f"Show the {x.words} of every {c.singular} of the {p.singular} with {p.label.words} {v}."],
                 [(k.child.get(r, x),) for r in k.child.rows if k.child.get(r, k.column) in ids])


@pattern("join_filter_parent_category", "join")
def _join_filter_parent_category(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, parent_label=False, need=lambda k: bool(k.parent.spec.by_role("category")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    x = _shown_child_column(k, rng)
    cat = rng.choice(p.by_role("category"))
    v = k.parent.get(_used_parent(k, rng), cat)
    ids = {r[0] for r in k.parent.rows if k.parent.get(r, cat) == v}
    return Draft(f"SELECT T1.{x.name} FROM {_join(k)} WHERE T2.{cat.name} = {lit(v)}",
                 [f"List the {x.words} of {c.plural} whose {p.singular} has {cat.words} {v}.",
                  f"What is the {x.words} of each {c.singular} linked to {a(p.singular)} with {cat.words} {v}?",
                  f"Show the {x.words} of the {c.plural} of {p.plural} whose {cat.words} is {v}."],
                 [(k.child.get(r, x),) for r in k.child.rows if k.child.get(r, k.column) in ids])


def _children_per_parent(k: Link, value: ColumnSpec | None = None) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    fi = k.child.index[k.column.name]
    vi = k.child.index[value.name] if value else fi
    for r in k.child.rows:
        out[r[fi]].append(r[vi])
    return out


@pattern("join_count_per_parent", "join")
def _join_count_per_parent(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    parents = _parents_by_id(k)
    return Draft(f"SELECT T2.{p.label.name}, COUNT(*) FROM {_join(k)} GROUP BY T2.{p.pk.name}",
                 [f"How many {c.plural} does each {p.singular} have?",
                  f"For each {p.singular}, give its {p.label.words} and the number of {c.plural}.",
                  f"Count the {c.plural} per {p.singular}."],
                 [(k.parent.get(parents[pid], p.label), len(v)) for pid, v in _children_per_parent(k).items()])


@pattern("join_having_count", "join")
def _join_having_count(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    parents = _parents_by_id(k)
    counts = {pid: len(v) for pid, v in _children_per_parent(k).items()}
    sizes = sorted(set(counts.values()))
    if len(sizes) < 2:
        return None
    n = rng.choice(sizes[:-1])
    return Draft(f"SELECT T2.{p.label.name} FROM {_join(k)} GROUP BY T2.{p.pk.name} HAVING COUNT(*) > {n}",
                 [f"Which {p.plural} have more than {n} {c.plural}?",
                  f"List the {p.label.words} of every {p.singular} with over {n} {c.plural}.",
                  f"Find the {p.plural} that have more than {n} {c.plural} each."],
                 [(k.parent.get(parents[pid], p.label),) for pid, cnt in counts.items() if cnt > n])


@pattern("join_aggregate_per_parent", "join")
def _join_aggregate_per_parent(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role(*NUMERIC)))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    m = rng.choice(c.by_role(*NUMERIC))
    func = agg_for(m, rng)
    w = AGG_WORDS[func]
    parents = _parents_by_id(k)
    return Draft(f"SELECT T2.{p.label.name}, {func}(T1.{m.name}) FROM {_join(k)} GROUP BY T2.{p.pk.name}",
                 [f"What is the {w} {m.words} of the {c.plural} of each {p.singular}?",
                  f"For each {p.singular}, show its {p.label.words} and the {w} {m.words} of its {c.plural}.",
                  f"Give every {p.singular}'s {p.label.words} with the {w} {m.words} over its {c.plural}."],
                 [(k.parent.get(parents[pid], p.label), aggregate(func, v))
                  for pid, v in _children_per_parent(k, m).items()])


@pattern("join_parent_most_children", "join")
def _join_parent_most_children(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    ranked = Counter(k.child.values(k.column)).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    top = _parents_by_id(k)[ranked[0][0]]
    return Draft(f"SELECT T2.{p.label.name} FROM {_join(k)} GROUP BY T2.{p.pk.name} "
                 f"ORDER BY COUNT(*) DESC LIMIT 1",
                 [f"Which {p.singular} has the most {c.plural}?",
                  f"What is the {p.label.words} of the {p.singular} with the largest number of {c.plural}?",
                  f"Find the {p.singular} that has more {c.plural} than any other."],
                 [(k.parent.get(top, p.label),)], ordered=True)


@pattern("join_aggregate_for_parent", "join")
def _join_aggregate_for_parent(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role(*NUMERIC)))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    m = rng.choice(c.by_role(*NUMERIC))
    func = agg_for(m, rng)
    w = AGG_WORDS[func]
    parent = _used_parent(k, rng)
    v = k.parent.get(parent, p.label)
    values = _children_per_parent(k, m)[parent[0]]
    return Draft(f"SELECT {func}(T1.{m.name}) FROM {_join(k)} WHERE T2.{p.label.name} = {lit(v)}",
                 [f"What is the {w} {m.words} of the {c.plural} of the {p.singular} {v}?",
                  f"For the {p.singular} {v}, what is the {w} {m.words} of its {c.plural}?",
                  f"Find the {w} {m.words} among {c.plural} belonging to {v}."],
                 [(aggregate(func, values),)])


@pattern("join_count_where", "join")
def _join_count_where(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, parent_label=False, need=lambda k: bool(k.parent.spec.by_role("category")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    cat = rng.choice(p.by_role("category"))
    v = k.parent.get(_used_parent(k, rng), cat)
    ids = {r[0] for r in k.parent.rows if k.parent.get(r, cat) == v}
    return Draft(f"SELECT COUNT(*) FROM {_join(k)} WHERE T2.{cat.name} = {lit(v)}",
                 [f"How many {c.plural} have {a(p.singular)} whose {cat.words} is {v}?",
                  f"Count the {c.plural} of {p.plural} with {cat.words} {v}.",
                  f"What is the number of {c.plural} linked to {p.plural} whose {cat.words} is {v}?"],
                 [(sum(1 for x in k.child.values(k.column) if x in ids),)])


@pattern("join_filter_child_number", "join")
def _join_filter_child_number(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role(*NUMERIC)))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    m = rng.choice(c.by_role(*NUMERIC))
    x = middle_value(k.child.values(m), rng)
    if x is None:
        return None
    parents = _parents_by_id(k)
    ids = {k.child.get(r, k.column) for r in k.child.rows if k.child.get(r, m) > x}
    return Draft(f"SELECT DISTINCT T2.{p.label.name} FROM {_join(k)} WHERE T1.{m.name} > {num(x)}",
                 [f"Which {p.plural} have at least one {c.singular} with {a(m.words)} above {num(x)}?",
                  f"List the distinct {p.label.words} of {p.plural} that have {c.plural} whose {m.words} is "
                  f"greater than {num(x)}.",
                  f"Find the {p.plural} with some {c.singular} whose {m.words} is more than {num(x)}."],
                 list({(k.parent.get(parents[i], p.label),) for i in ids}))


@pattern("join_bridge", "join")
def _join_bridge(ctx: DbContext, rng: random.Random) -> Draft | None:
    # a table with two foreign keys links two labelled parents: students-enrollments-courses
    pairs = [(k1, k2) for k1 in ctx.links for k2 in ctx.links
             if k1.child is k2.child and k1.column is not k2.column
             and k1.parent.spec.label and k2.parent.spec.label]
    if not pairs:
        return None
    k1, k2 = rng.choice(pairs)
    b, p1, p2 = k1.child.spec, k1.parent.spec, k2.parent.spec
    row = rng.choice(k1.child.rows)
    first = _parents_by_id(k1)[k1.child.get(row, k1.column)]
    v = k1.parent.get(first, p1.label)
    second = _parents_by_id(k2)
    answer = {(k2.parent.get(second[k2.child.get(r, k2.column)], p2.label),)
              for r in k1.child.rows if k1.child.get(r, k1.column) == first[0]}
    return Draft(f"SELECT DISTINCT T3.{p2.label.name} FROM {p1.name} AS T1 "
                 f"JOIN {b.name} AS T2 ON T2.{k1.column.name} = T1.{p1.pk.name} "
                 f"JOIN {p2.name} AS T3 ON T2.{k2.column.name} = T3.{p2.pk.name} "
                 f"WHERE T1.{p1.label.name} = {lit(v)}",
                 [f"List the {p2.label.words} of every {p2.singular} that has {a(b.singular)} with the "
                  f"{p1.singular} {v}.",
                  f"Which {p2.plural} appear in {b.plural} together with the {p1.singular} {v}?",
                  f"For the {p1.singular} {v}, find the distinct {p2.plural} connected through their {b.plural}."],
                 list(answer))


@pattern("join_chain_count", "join")
def _join_chain_count(ctx: DbContext, rng: random.Random) -> Draft | None:
    # grandchild -> child -> parent, e.g. sales of books by one author
    chains = [(k1, k2) for k1 in ctx.links for k2 in ctx.links
              if k1.parent is k2.child and k2.parent.spec.label]
    if not chains:
        return None
    k1, k2 = rng.choice(chains)
    g, c, p = k1.child.spec, k1.parent.spec, k2.parent.spec
    child_to_parent = {r[0]: k2.child.get(r, k2.column) for r in k2.child.rows}
    parents = _parents_by_id(k2)
    row = rng.choice(k1.child.rows)
    target = child_to_parent[k1.child.get(row, k1.column)]
    v = k2.parent.get(parents[target], p.label)
    n = sum(1 for x in k1.child.values(k1.column) if child_to_parent[x] == target)
    return Draft(f"SELECT COUNT(*) FROM {g.name} AS T1 "
                 f"JOIN {c.name} AS T2 ON T1.{k1.column.name} = T2.{c.pk.name} "
                 f"JOIN {p.name} AS T3 ON T2.{k2.column.name} = T3.{p.pk.name} "
                 f"WHERE T3.{p.label.name} = {lit(v)}",
                 [f"How many {g.plural} are there for {c.plural} of the {p.singular} {v}?",
                  f"Count the {g.plural} whose {c.singular} belongs to the {p.singular} {v}.",
                  f"What is the number of {g.plural} linked to the {p.singular} {v} through their {c.plural}?"],
                 [(n,)])


@pattern("count_distinct_fk", "join")
def _count_distinct_fk(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, parent_label=False)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    return Draft(f"SELECT COUNT(DISTINCT {k.column.name}) FROM {c.name}",
                 [f"How many different {p.plural} have at least one {c.singular}?",
                  f"Count the distinct {p.plural} that appear among the {c.plural}.",
                  f"How many {p.plural} have any {c.plural}?"],
                 [(len(set(k.child.values(k.column))),)])


# ---------------------------------------------------------------- nested subqueries over links
@pattern("subquery_in", "nested")
def _subquery_in(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role("category")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    cat = rng.choice(c.by_role("category"))
    v = rng.choice(k.child.values(cat))
    ids = {k.child.get(r, k.column) for r in k.child.rows if k.child.get(r, cat) == v}
    return Draft(f"SELECT {p.label.name} FROM {p.name} WHERE {p.pk.name} IN "
                 f"(SELECT {k.column.name} FROM {c.name} WHERE {cat.name} = {lit(v)})",
                 [f"Which {p.plural} have at least one {c.singular} with {cat.words} {v}?",
                  f"List the {p.label.words} of {p.plural} that have {c.plural} whose {cat.words} is {v}.",
                  f"Find the {p.plural} with some {c.singular} in {cat.words} {v}."],
                 [(k.parent.get(r, p.label),) for r in k.parent.rows if r[0] in ids])


@pattern("subquery_not_in", "nested")
def _subquery_not_in(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng)
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    used = set(k.child.values(k.column))
    answer = [(k.parent.get(r, p.label),) for r in k.parent.rows if r[0] not in used]
    if not answer:
        return None
    return Draft(f"SELECT {p.label.name} FROM {p.name} WHERE {p.pk.name} NOT IN "
                 f"(SELECT {k.column.name} FROM {c.name})",
                 [f"Which {p.plural} have no {c.plural}?",
                  f"List the {p.label.words} of {p.plural} that do not have any {c.plural}.",
                  f"Find the {p.plural} without a single {c.singular}."],
                 answer)


@pattern("correlated_exists", "nested")
def _correlated_exists(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role("date")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    d = rng.choice(c.by_role("date"))
    x = middle_value(k.child.values(d), rng)
    if x is None:
        return None
    ids = {k.child.get(r, k.column) for r in k.child.rows if k.child.get(r, d) > x}
    return Draft(f"SELECT T1.{p.label.name} FROM {p.name} AS T1 WHERE EXISTS "
                 f"(SELECT 1 FROM {c.name} AS T2 WHERE T2.{k.column.name} = T1.{p.pk.name} "
                 f"AND T2.{d.name} > {lit(x)})",
                 [f"Which {p.plural} have {a(c.singular)} with {a(d.words)} after {x}?",
                  f"List the {p.label.words} of {p.plural} that have at least one {c.singular} whose {d.words} "
                  f"is later than {x}.",
                  f"Find the {p.plural} with some {c.singular} dated after {long_date(x)}."],
                 [(k.parent.get(r, p.label),) for r in k.parent.rows if r[0] in ids])


# ---------------------------------------------------------------- set operations
@pattern("union", "set")
def _union(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure") or tables_with(ctx, rng, "category", "ordinal")
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    v = rng.choice(t.values(c))
    x = middle_value(t.values(m), rng)
    if x is None:
        return None
    answer = {(t.get(r, lab),) for r in t.rows if t.get(r, c) == v} | \
             {(t.get(r, lab),) for r in t.rows if t.get(r, m) < x}
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {c.name} = {lit(v)} "
                 f"UNION SELECT {lab.name} FROM {s.name} WHERE {m.name} < {num(x)}",
                 [f"Combine the {s.plural} with {c.words} {v} and the {s.plural} with {a(m.words)} below {num(x)}, "
                  f"listing each {lab.words} once.",
                  f"List the {lab.words} of {s.plural} whose {c.words} is {v}, together with those whose "
                  f"{m.words} is less than {num(x)}, without duplicates.",
                  f"Give the union of {s.plural} with {c.words} {v} and {s.plural} with {m.words} under {num(x)}."],
                 list(answer))


def _parents_with(k: Link, cat: ColumnSpec, value: str) -> set[Any]:
    parents = _parents_by_id(k)
    return {k.parent.get(parents[k.child.get(r, k.column)], k.parent.spec.label)
            for r in k.child.rows if k.child.get(r, cat) == value}


def _set_over_link(ctx: DbContext, rng: random.Random, op: str) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role("category")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    cat = rng.choice(c.by_role("category"))
    distinct = sorted(set(k.child.values(cat)))
    if len(distinct) < 2:
        return None
    v1, v2 = rng.sample(distinct, 2)
    first, second = _parents_with(k, cat, v1), _parents_with(k, cat, v2)
    answer = first & second if op == "INTERSECT" else first - second
    if not answer:
        return None
    part = f"SELECT T2.{p.label.name} FROM {_join(k)} WHERE T1.{cat.name} = "
    sql = f"{part}{lit(v1)} {op} {part}{lit(v2)}"
    if op == "INTERSECT":
        questions = [f"Which {p.plural} have both {c.plural} with {cat.words} {v1} and {c.plural} with "
                     f"{cat.words} {v2}?",
                     f"List the {p.label.words} of {p.plural} that have {a(c.singular)} whose {cat.words} is {v1} "
                     f"and also one whose {cat.words} is {v2}.",
                     f"Find the {p.plural} with {c.plural} in {cat.words} {v1} as well as in {cat.words} {v2}."]
    else:
        questions = [f"Which {p.plural} have {c.plural} with {cat.words} {v1} but none with {cat.words} {v2}?",
                     f"List the {p.label.words} of {p.plural} that have {a(c.singular)} whose {cat.words} is {v1} "
                     f"and no {c.singular} whose {cat.words} is {v2}.",
                     f"Find the {p.plural} with {c.plural} in {cat.words} {v1}, excluding those with any in "
                     f"{cat.words} {v2}."]
    return Draft(sql, questions, [(x,) for x in answer])


pattern("intersect", "set")(lambda ctx, rng: _set_over_link(ctx, rng, "INTERSECT"))
pattern("except", "set")(lambda ctx, rng: _set_over_link(ctx, rng, "EXCEPT"))


# ---------------------------------------------------------------- combinations of the above
@pattern("where_two_numbers", "where")
def _where_two_numbers(ctx: DbContext, rng: random.Random) -> Draft | None:
    fits = [t for t in ctx.tables if t.spec.label and len(t.spec.by_role(*NUMERIC)) >= 2]
    t = pick(fits, rng)
    if t is None:
        return None
    s, lab = t.spec, t.spec.label
    m1, m2 = rng.sample(s.by_role(*NUMERIC), 2)
    x, y = middle_value(t.values(m1), rng), middle_value(t.values(m2), rng)
    if x is None or y is None:
        return None
    answer = [(t.get(r, lab),) for r in t.rows if t.get(r, m1) > x and t.get(r, m2) < y]
    if not answer:
        return None
    return Draft(f"SELECT {lab.name} FROM {s.name} WHERE {m1.name} > {num(x)} AND {m2.name} < {num(y)}",
                 [f"Which {s.plural} have {a(m1.words)} above {num(x)} and {a(m2.words)} below {num(y)}?",
                  f"List the {lab.words} of {s.plural} whose {m1.words} is greater than {num(x)} and whose "
                  f"{m2.words} is less than {num(y)}.",
                  f"Find {s.plural} with {m1.words} over {num(x)} but {m2.words} under {num(y)}."],
                 answer)


@pattern("count_distinct_where", "aggregate")
def _count_distinct_where(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", "measure", label=False) or \
        tables_with(ctx, rng, "category", "ordinal", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    m = rng.choice(s.by_role(*NUMERIC))
    x = middle_value(t.values(m), rng)
    if x is None:
        return None
    return Draft(f"SELECT COUNT(DISTINCT {c.name}) FROM {s.name} WHERE {m.name} > {num(x)}",
                 [f"How many different {c.words} values do {s.plural} with {a(m.words)} above {num(x)} have?",
                  f"Count the distinct {c.words} values among {s.plural} whose {m.words} is greater than {num(x)}.",
                  f"Among {s.plural} with {m.words} over {num(x)}, how many distinct {c.words} values are there?"],
                 [(len({t.get(r, c) for r in t.rows if t.get(r, m) > x}),)])


@pattern("group_count_ordered", "order")
def _group_count_ordered(ctx: DbContext, rng: random.Random) -> Draft | None:
    t = tables_with(ctx, rng, "category", label=False)
    if t is None:
        return None
    s = t.spec
    c = rng.choice(s.by_role("category"))
    ranked = Counter(t.values(c)).most_common()
    if not unique_order([n for _, n in ranked]):
        return None
    return Draft(f"SELECT {c.name}, COUNT(*) FROM {s.name} GROUP BY {c.name} ORDER BY COUNT(*) DESC",
                 [f"For each {c.words}, count the {s.plural}, from the most common {c.words} to the least.",
                  f"List every {c.words} with its number of {s.plural}, most {s.plural} first.",
                  f"How many {s.plural} does each {c.words} have? Sort by that number in descending order."],
                 ranked, ordered=True)


@pattern("join_superlative_for_parent", "join")
def _join_superlative_for_parent(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.label and k.child.spec.by_role(*NUMERIC)))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    m = rng.choice(c.by_role(*NUMERIC))
    parent = _used_parent(k, rng)
    desc = rng.random() < 0.6
    rows = sorted((r for r in k.child.rows if k.child.get(r, k.column) == parent[0]),
                  key=lambda r: k.child.get(r, m), reverse=desc)
    if not unique_order([k.child.get(r, m) for r in rows], upto=1):
        return None
    v = k.parent.get(parent, p.label)
    most = ("highest", "largest") if desc else ("lowest", "smallest")
    return Draft(f"SELECT T1.{c.label.name} FROM {_join(k)} WHERE T2.{p.label.name} = {lit(v)} "
                 f"ORDER BY T1.{m.name} {_direction(desc)} LIMIT 1",
                 [f"Which {c.singular} of the {p.singular} {v} has the {most[0]} {m.words}?",
                  f"Among the {c.plural} of {v}, what is the {c.label.words} of the one with the {most[1]} "
                  f"{m.words}?",
                  f"For the {p.singular} {v}, find the {c.singular} with the {most[0]} {m.words}."],
                 [(k.child.get(rows[0], c.label),)], ordered=True)


@pattern("join_having_above_overall_average", "nested")
def _join_having_above_overall_average(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role("measure")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    m = rng.choice(c.by_role("measure"))
    overall = aggregate("AVG", k.child.values(m))
    parents = _parents_by_id(k)
    means = {pid: aggregate("AVG", v) for pid, v in _children_per_parent(k, m).items()}
    answer = [(k.parent.get(parents[pid], p.label),) for pid, mean in means.items() if mean > overall]
    if not answer or near(overall, means.values()):
        return None
    return Draft(f"SELECT T2.{p.label.name} FROM {_join(k)} GROUP BY T2.{p.pk.name} "
                 f"HAVING AVG(T1.{m.name}) > (SELECT AVG({m.name}) FROM {c.name})",
                 [f"Which {p.plural} have {c.plural} whose average {m.words} is above the average over all "
                  f"{c.plural}?",
                  f"List the {p.label.words} of {p.plural} whose {c.plural} have a higher average {m.words} "
                  f"than {c.plural} overall.",
                  f"Find the {p.plural} where the mean {m.words} of their {c.plural} exceeds the overall mean."],
                 answer)


@pattern("not_exists", "nested")
def _not_exists(ctx: DbContext, rng: random.Random) -> Draft | None:
    k = _link(ctx, rng, need=lambda k: bool(k.child.spec.by_role("category")))
    if k is None:
        return None
    c, p = k.child.spec, k.parent.spec
    cat = rng.choice(c.by_role("category"))
    v = rng.choice(k.child.values(cat))
    having = {k.child.get(r, k.column) for r in k.child.rows if k.child.get(r, cat) == v}
    answer = [(k.parent.get(r, p.label),) for r in k.parent.rows if r[0] not in having]
    if not answer:
        return None
    return Draft(f"SELECT T1.{p.label.name} FROM {p.name} AS T1 WHERE NOT EXISTS "
                 f"(SELECT 1 FROM {c.name} AS T2 WHERE T2.{k.column.name} = T1.{p.pk.name} "
                 f"AND T2.{cat.name} = {lit(v)})",
                 [f"Which {p.plural} have no {c.singular} with {cat.words} {v}?",
                  f"List the {p.label.words} of {p.plural} that do not have any {c.plural} whose {cat.words} "
                  f"is {v}.",
                  f"Find the {p.plural} without a single {c.singular} in {cat.words} {v}."],
                 answer)
