"""Spider's exact set match, written from the published definition of the official evaluator.

A query is read (with sqlglot) into the components the official evaluator compares, then the prediction's
components are compared with the gold query's. The prediction matches when every one of these agrees:

* **SELECT**: the selected items as a multiset (their order does not matter); an item is an aggregate and a
  value unit (a column, or two columns joined by ``+ - * /``);
* **WHERE**: the conditions as a multiset, each an operator, its NOT flag and its left-hand value unit; the
  values on the right are ignored (a nested query there is kept and compared whole);
* **AND/OR**: the set of connectives between the WHERE conditions;
* **GROUP BY**: the grouped column names as a multiset (table names dropped, as the official script does);
* **GROUP BY + HAVING**: when both queries group, the grouped columns in order and the HAVING conditions in
  order (connectives included) are equal;
* **ORDER BY**: the sort keys in order and one direction (the last written ASC/DESC, else ASC), and whether
  there is a LIMIT (its value is ignored);
* **IUEN**: the same INTERSECT / UNION / EXCEPT parts are present, and each matches (exact set match again);
* **keywords**: the same set of WHERE, GROUP BY, HAVING, ORDER BY, its direction, LIMIT, INTERSECT, UNION,
  EXCEPT, OR, NOT, IN, LIKE;
* **FROM**: the same tables as a multiset (JOIN conditions are not compared, except for their keywords).

Before comparing, the official defaults are applied to both queries: values are dropped, DISTINCT is dropped
(``SELECT DISTINCT`` and ``count(DISTINCT x)`` alike), table aliases are resolved to table names, and every
column is written ``table.column``. A column linked by a foreign key is replaced by one representative of its
group of linked columns (the first in ``tables.json`` order), for the columns of the tables in the outermost
FROM; ``T2.singer_id`` and ``T1.singer_id`` then read alike in ``singer JOIN concert``. A nested query used
as a value (``x IN (SELECT ...)``) is compared as written, DISTINCT and order of its parts included, as the
official script compares it.

The reading is the official grammar's: an aggregate of a column, ``count(*)``, one arithmetic operator,
comparisons, ``[NOT] IN``, ``[NOT] LIKE``, ``[NOT] BETWEEN``, ``IS [NOT] NULL``, ``EXISTS``, nested queries,
INTERSECT / UNION / EXCEPT. A query outside it (another function, ``CASE``, ``ORDER BY 1``, a column no table
of its FROM has) raises ``SpiderParseError``; ``exact_set_match`` then scores the prediction as no match.
The reading is more lenient than the official parser's in a few places, so that a prediction it would fail to
read is still scored: output-column aliases (``ORDER BY cnt``), parenthesised conditions, ``NOT`` written
before a condition, ``IS [NOT] NULL``, ``EXISTS``, ``IN`` a list of values, and ``UNION ALL`` (read as
UNION). Table aliases belong to the SELECT that defines them (the official parser keeps one map for the whole
query). Values inside a FROM subquery are ignored too (the official script compares them).

>>> from t2sql_lib.schema import Column, Schema, Table
>>> singer = Table("singer", (Column("singer_id"), Column("name"), Column("age")))
>>> schema = Schema("concert_singer", (singer,))
>>> exact_set_match("SELECT T1.age, T1.name FROM singer AS T1 WHERE T1.age > 30",
...                 "SELECT name, age FROM singer WHERE age > 20", schema)
True
>>> exact_set_match("SELECT name FROM singer ORDER BY age ASC", "SELECT name FROM singer ORDER BY age DESC", schema)
False
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlglot import exp

from .schema import Schema
from .sql import SQLError, parse_sql

COMPONENTS = ("select", "where", "group", "group_having", "order", "and_or", "iuen", "keywords", "from")

_AGGREGATES = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
_ARITHMETIC = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
_COMPARISONS = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.LT: "<", exp.GTE: ">=", exp.LTE: "<=",
                exp.Like: "like"}
_SET_OPS = {exp.Intersect: "intersect", exp.Union: "union", exp.Except: "except"}

ColUnit = tuple  # (aggregate, "table.column" or "*", distinct)
ValUnit = tuple  # (operator, ColUnit, ColUnit | None)
CondUnit = tuple  # (not, operator, ValUnit | None, value 1, value 2): a value is None or a nested SpiderQuery


class SpiderParseError(ValueError):
    """The query is outside what Spider's evaluation grammar reads (or names a table/column the schema lacks)."""


@dataclass(frozen=True)
class SpiderQuery:
    """One query as the official evaluator sees it (values dropped; nested queries kept whole)."""

    distinct: bool
    select: tuple[tuple[str, ValUnit], ...]
    tables: tuple[tuple[str, Any], ...]  # ("table", name) or ("sql", SpiderQuery)
    from_conds: tuple  # JOIN ... ON conditions: CondUnit, "and"/"or", CondUnit, ...
    where: tuple
    group_by: tuple[ColUnit, ...]
    having: tuple
    order: tuple[str, tuple[ValUnit, ...]] | None  # ("asc"/"desc", sort keys)
    limit: str | None
    intersect: SpiderQuery | None = None
    union: SpiderQuery | None = None
    except_: SpiderQuery | None = None


@dataclass(frozen=True, eq=False)
class SpiderSchema:
    """Lower-cased tables and columns of one database, and the foreign-key column map of the official script."""

    columns: dict[str, frozenset[str]]  # table -> its columns
    table_order: tuple[str, ...]
    fk_map: dict[str, str]  # "table.column" -> the representative of its foreign-key group


@lru_cache(maxsize=512)
def spider_schema(schema: Schema) -> SpiderSchema:
    """The ``SpiderSchema`` of a ``Schema`` (from ``tables.json``: columns numbered in its order)."""
    columns: dict[str, frozenset[str]] = {}
    ids: dict[tuple[str, str], int] = {}
    names = ["*"]  # id 0 is "*" in tables.json
    for table in schema.tables:
        t = table.name.lower()
        columns[t] = frozenset(c.name.lower() for c in table.columns)
        for col in table.columns:
            ids[(t, col.name.lower())] = len(names)
            names.append(f"{t}.{col.name.lower()}")
    groups: list[set[int]] = []
    for fk in schema.foreign_keys:
        pair = [ids.get((fk.table.lower(), fk.column.lower())), ids.get((fk.ref_table.lower(), fk.ref_column.lower()))]
        if None in pair:
            continue
        # As the official script builds it: the first group holding either column takes both (groups never merge).
        group = next((g for g in groups if pair[0] in g or pair[1] in g), None)
        if group is None:
            group = set()
            groups.append(group)
        group.update(pair)
    fk_map = {names[i]: names[min(g)] for g in groups for i in g}
    return SpiderSchema(columns=columns, table_order=tuple(columns), fk_map=fk_map)


# ---------------------------------------------------------------------------------------------------------
# Reading a query

@dataclass
class _Scope:
    """The names one SELECT can use: its tables (by alias and name) and its output-column aliases."""

    aliases: dict[str, str | None]  # alias or table name -> table (None: a FROM subquery)
    tables: list[str]  # FROM tables in order: where an unqualified column is looked up
    outputs: dict[str, exp.Expression]
    parent: _Scope | None


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


class _Reader:
    """sqlglot tree -> ``SpiderQuery`` for one schema."""

    def __init__(self, schema: SpiderSchema):
        self.schema = schema

    def query(self, node: exp.Expression, parent: _Scope | None) -> SpiderQuery:
        while isinstance(node, (exp.Subquery, exp.Paren)):
            node = node.this
        if isinstance(node, exp.SetOperation):
            # sqlglot reads A UNION B EXCEPT C as (A UNION B) EXCEPT C; the official grammar as A UNION (B EXCEPT C),
            # with a final ORDER BY / LIMIT belonging to C.
            members, ops = [], []
            chain: exp.Expression = node
            while isinstance(chain, exp.SetOperation):
                members.append(chain.expression)
                ops.append(_SET_OPS[type(chain)])
                chain = _unparen(chain.this)
                while isinstance(chain, exp.Subquery):
                    chain = chain.this
            members.append(chain)
            members.reverse()
            ops.reverse()
            tail = self.query_select(members[-1], parent, node.args.get("order"), node.args.get("limit"))
            for member, op in zip(reversed(members[:-1]), reversed(ops)):
                head = self.query_select(member, parent)
                tail = dataclasses.replace(head, **{"except_" if op == "except" else op: tail})
            return tail
        return self.query_select(node, parent)

    def query_select(self, node: exp.Expression, parent: _Scope | None, order: exp.Expression | None = None,
                     limit: exp.Expression | None = None) -> SpiderQuery:
        while isinstance(node, (exp.Subquery, exp.Paren)):
            node = node.this
        if isinstance(node, exp.SetOperation):  # a parenthesised set operation as one member of another
            return self.query(node, parent)
        if not isinstance(node, exp.Select) or node.args.get("with"):
            raise SpiderParseError(f"not a SELECT the Spider grammar reads: {type(node).__name__}")
        scope = _Scope(aliases={}, tables=[], outputs={}, parent=parent)
        tables, from_conds = self.from_clause(node, scope)
        for item in node.expressions:
            if isinstance(item, exp.Alias):
                scope.outputs[item.alias.lower()] = item.this
        where, group, having = node.args.get("where"), node.args.get("group"), node.args.get("having")
        order = order if order is not None else node.args.get("order")
        limit = limit if limit is not None else node.args.get("limit")
        return SpiderQuery(
            distinct=bool(node.args.get("distinct")),
            select=tuple(self.select_item(e, scope) for e in node.expressions),
            tables=tables,
            from_conds=from_conds,
            where=self.conditions(where.this, scope) if where is not None else (),
            group_by=tuple(self.col_unit(g, scope) for g in group.expressions) if group is not None else (),
            having=self.conditions(having.this, scope) if having is not None else (),
            order=self.order_by(order, scope) if order is not None else None,
            limit=_limit_text(limit),
        )

    def from_clause(self, node: exp.Select, scope: _Scope) -> tuple[tuple, tuple]:
        from_ = node.args.get("from_") or node.args.get("from")
        sources = ([from_.this] if from_ is not None else []) + [j.this for j in node.args.get("joins") or []]
        units = []
        for source in sources:
            alias = source.alias.lower() if source.alias else None
            if isinstance(source, exp.Table) and not source.args.get("db"):
                name = source.name.lower()
                if name not in self.schema.columns:
                    raise SpiderParseError(f"no table {source.name!r} in the schema")
                scope.aliases[name] = name
                if alias:
                    scope.aliases[alias] = name
                scope.tables.append(name)
                units.append(("table", name))
            elif isinstance(source, exp.Subquery):
                units.append(("sql", self.query(source.this, None)))
                if alias:
                    scope.aliases[alias] = None
            else:
                raise SpiderParseError(f"FROM reads a table or a subquery, not {type(source).__name__}")
        conds: list = []
        for join in node.args.get("joins") or []:
            on = join.args.get("on")
            if on is not None and not isinstance(on, exp.Boolean):  # sqlglot writes a JOIN without ON as ON TRUE
                conds += (["and"] if conds else []) + list(self.conditions(on, scope))
        return tuple(units), tuple(conds)

    def order_by(self, order: exp.Expression, scope: _Scope) -> tuple[str, tuple[ValUnit, ...]]:
        direction, keys = "asc", []
        for item in order.expressions:
            if isinstance(item, exp.Ordered):
                if item.args.get("desc"):
                    direction = "desc"
                elif item.args.get("desc") is False:  # ASC written out (sqlglot leaves the flag unset otherwise)
                    direction = "asc"
                item = item.this
            keys.append(self.val_unit(item, scope))
        return direction, tuple(keys)

    # -- conditions ------------------------------------------------------------------------------------

    def conditions(self, node: exp.Expression, scope: _Scope) -> tuple:
        """``cond, "and"/"or", cond, ...`` in written order, looking through parentheses."""
        node = _unparen(node)
        if isinstance(node, (exp.And, exp.Or)):
            word = "and" if isinstance(node, exp.And) else "or"
            return (*self.conditions(node.this, scope), word, *self.conditions(node.expression, scope))
        return (self.cond_unit(node, scope),)

    def cond_unit(self, node: exp.Expression, scope: _Scope) -> CondUnit:
        negated = False
        if isinstance(node, exp.Not):
            negated, node = True, _unparen(node.this)
        if isinstance(node, (exp.Like, exp.ILike)) and node.args.get("negate"):
            negated = True
        if isinstance(node, exp.Exists):
            return (negated, "exists", None, self.value(node.this, scope), None)
        if isinstance(node, exp.In):
            query = node.args.get("query")
            return (negated, "in", self.val_unit(node.this, scope),
                    self.value(query, scope) if query is not None else None, None)
        if isinstance(node, exp.Between):
            return (negated, "between", self.val_unit(node.this, scope), self.value(node.args["low"], scope),
                    self.value(node.args["high"], scope))
        if isinstance(node, exp.Is):
            return (negated, "is", self.val_unit(node.this, scope), None, None)
        op = _COMPARISONS.get(type(node))
        if op is None:
            raise SpiderParseError(f"a condition the Spider grammar does not read: {node.sql(dialect='sqlite')[:80]!r}")
        return (negated, op, self.val_unit(node.this, scope), self.value(node.expression, scope), None)

    def value(self, node: exp.Expression, scope: _Scope) -> SpiderQuery | None:
        """A nested query used as a value, read whole; any other value is dropped (None)."""
        node = _unparen(node)
        if isinstance(node, (exp.Subquery, exp.Select, exp.SetOperation)):
            return self.query(node, scope)
        return None

    # -- value units and columns -----------------------------------------------------------------------

    def select_item(self, node: exp.Expression, scope: _Scope) -> tuple[str, ValUnit]:
        """(aggregate, value unit): the official grammar puts a selected item's aggregate outside its unit."""
        node = _unparen(node.this if isinstance(node, exp.Alias) else node)
        agg = _AGGREGATES.get(type(node))
        if agg is None:
            return "none", self.val_unit(node, scope)
        arg, distinct = _aggregate_argument(node)
        unit = self.val_unit(arg, scope)
        if distinct:
            unit = (unit[0], (unit[1][0], unit[1][1], True), unit[2])
        return agg, unit

    def val_unit(self, node: exp.Expression, scope: _Scope) -> ValUnit:
        node = self.resolve_output(_unparen(node), scope)
        op = _ARITHMETIC.get(type(node))
        if op is not None:
            return op, self.col_unit(node.this, scope), self.col_unit(node.expression, scope)
        return "none", self.col_unit(node, scope), None

    def col_unit(self, node: exp.Expression, scope: _Scope) -> ColUnit:
        node = self.resolve_output(_unparen(node), scope)
        agg = _AGGREGATES.get(type(node))
        if agg is None:
            return "none", self.column(node, scope), False
        arg, distinct = _aggregate_argument(node)
        return agg, self.column(_unparen(arg), scope), distinct

    def resolve_output(self, node: exp.Expression, scope: _Scope) -> exp.Expression:
        """An unqualified name that no FROM table has but an output column is called: that column's expression."""
        if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
            name = node.name.lower()
            if name in scope.outputs and not any(name in self.schema.columns[t] for t in scope.tables):
                target = _unparen(scope.outputs[name])
                if not (isinstance(target, exp.Column) and target.name.lower() == name):
                    return target
        return node

    def column(self, node: exp.Expression, scope: _Scope) -> str:
        if isinstance(node, exp.Star):
            return "*"
        if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
            raise SpiderParseError(f"expected a column, got {node.sql(dialect='sqlite')[:80]!r}")
        name = node.name.lower()
        if node.table:
            table = _lookup_alias(node.table.lower(), scope)
            if table is None or name not in self.schema.columns[table]:
                raise SpiderParseError(f"no column {node.table}.{node.name} in the schema")
            return f"{table}.{name}"
        for table in scope.tables:
            if name in self.schema.columns[table]:
                return f"{table}.{name}"
        raise SpiderParseError(f"no table of the FROM clause has a column {node.name!r}")


def _lookup_alias(alias: str, scope: _Scope | None) -> str | None:
    while scope is not None:
        if alias in scope.aliases:
            return scope.aliases[alias]
        scope = scope.parent
    return None


def _aggregate_argument(node: exp.Expression) -> tuple[exp.Expression, bool]:
    """The argument of count/sum/avg/min/max and whether DISTINCT precedes it."""
    if node.args.get("expressions"):
        raise SpiderParseError(f"{node.sql(dialect='sqlite')[:80]!r}: an aggregate of one argument is expected")
    arg = node.this
    if isinstance(arg, exp.Distinct):
        if len(arg.expressions) != 1:
            raise SpiderParseError(f"{node.sql(dialect='sqlite')[:80]!r}: DISTINCT of one column is expected")
        return arg.expressions[0], True
    if arg is None:
        raise SpiderParseError(f"{node.sql(dialect='sqlite')[:80]!r}: an aggregate needs an argument")
    return arg, False


def _limit_text(limit: exp.Expression | None) -> str | None:
    if limit is None:
        return None
    value = limit.args.get("expression")
    return value.sql(dialect="sqlite") if value is not None else ""


def parse_spider_sql(sql: str, schema: Schema | SpiderSchema) -> SpiderQuery:
    """Read ``sql`` as Spider's evaluation grammar does; SpiderParseError when it cannot be read."""
    spider = schema if isinstance(schema, SpiderSchema) else spider_schema(schema)
    try:
        tree = parse_sql(sql)
        return _Reader(spider).query(tree, None)
    except SQLError as err:
        raise SpiderParseError(str(err)) from None
    except RecursionError:
        raise SpiderParseError("SQL nested too deeply to read") from None
    except ValueError as err:  # sqlglot writing a blob literal of over 3,570 hex digits as an int (Python's limit)
        raise SpiderParseError(f"SQL sqlglot cannot write back: {err}") from None


# ---------------------------------------------------------------------------------------------------------
# The official defaults: no DISTINCT, foreign-key columns mapped (for the outermost FROM's tables)

def _map_col(unit: ColUnit | None, valid: frozenset[str], fk_map: dict[str, str]) -> ColUnit | None:
    if unit is None:
        return None
    agg, col, _ = unit
    if col in fk_map and col.split(".", 1)[0] in valid:
        col = fk_map[col]
    return agg, col, None


def _map_val(unit: ValUnit | None, valid: frozenset[str], fk_map: dict[str, str]) -> ValUnit | None:
    if unit is None:
        return None
    return unit[0], _map_col(unit[1], valid, fk_map), _map_col(unit[2], valid, fk_map)


def _map_conds(conds: tuple, valid: frozenset[str], fk_map: dict[str, str]) -> tuple:
    return tuple(c if isinstance(c, str) else (c[0], c[1], _map_val(c[2], valid, fk_map), c[3], c[4])
                 for c in conds)


def _apply_defaults(q: SpiderQuery | None, valid: frozenset[str], fk_map: dict[str, str]) -> SpiderQuery | None:
    """DISTINCT dropped and foreign-key columns mapped, here and in the INTERSECT/UNION/EXCEPT parts."""
    if q is None:
        return None
    order = None if q.order is None else (q.order[0], tuple(_map_val(v, valid, fk_map) for v in q.order[1]))
    return dataclasses.replace(
        q, distinct=False,
        select=tuple((agg, _map_val(v, valid, fk_map)) for agg, v in q.select),
        from_conds=_map_conds(q.from_conds, valid, fk_map), where=_map_conds(q.where, valid, fk_map),
        group_by=tuple(_map_col(c, valid, fk_map) for c in q.group_by),
        having=_map_conds(q.having, valid, fk_map), order=order,
        intersect=_apply_defaults(q.intersect, valid, fk_map), union=_apply_defaults(q.union, valid, fk_map),
        except_=_apply_defaults(q.except_, valid, fk_map))


def official_form(q: SpiderQuery, schema: Schema | SpiderSchema) -> SpiderQuery:
    """``q`` as the official script compares it: DISTINCT dropped, foreign-key columns mapped."""
    spider = schema if isinstance(schema, SpiderSchema) else spider_schema(schema)
    valid = frozenset(name for kind, name in q.tables if kind == "table")
    return _apply_defaults(q, valid, spider.fk_map)


# ---------------------------------------------------------------------------------------------------------
# Comparing

def keywords(q: SpiderQuery) -> frozenset[str]:
    """The keyword set the official script compares (of this query, not of its nested parts)."""
    words = {name for name, present in (("where", q.where), ("group", q.group_by), ("having", q.having),
                                        ("limit", q.limit is not None), ("intersect", q.intersect),
                                        ("union", q.union), ("except", q.except_)) if present}
    if q.order is not None:
        words |= {"order", q.order[0]}
    conds = q.from_conds + q.where + q.having
    units = [c for c in conds if not isinstance(c, str)]
    words |= {"or"} if "or" in conds else set()
    words |= {"not"} if any(c[0] for c in units) else set()
    words |= {op for op in ("in", "like") if any(c[1] == op for c in units)}
    return frozenset(words)


def _cond_units(conds: tuple) -> Counter:
    return Counter(c for c in conds if not isinstance(c, str))


def _group_names(q: SpiderQuery) -> Counter:
    return Counter(c[1].split(".", 1)[-1] for c in q.group_by)


def component_matches(pred: SpiderQuery, gold: SpiderQuery) -> dict[str, bool]:
    """Whether each component of ``COMPONENTS`` agrees (both queries in ``official_form``)."""
    both_group = bool(pred.group_by) and bool(gold.group_by)
    iuen = True
    for part in ("intersect", "union", "except_"):
        p, g = getattr(pred, part), getattr(gold, part)
        if (p is None) != (g is None) or (p is not None and not _match(p, g)):
            iuen = False
    limits_agree = (pred.limit is None) == (gold.limit is None)
    return {
        "select": Counter(pred.select) == Counter(gold.select),
        "where": _cond_units(pred.where) == _cond_units(gold.where),
        "group": _group_names(pred) == _group_names(gold),
        "group_having": (bool(pred.group_by) == bool(gold.group_by)) and (
            not both_group or ([c[1] for c in pred.group_by] == [c[1] for c in gold.group_by]
                               and pred.having == gold.having)),
        "order": pred.order == gold.order and (pred.order is None or limits_agree),
        "and_or": {c for c in pred.where if isinstance(c, str)} == {c for c in gold.where if isinstance(c, str)},
        "iuen": iuen,
        "keywords": keywords(pred) == keywords(gold),
        "from": not gold.tables or Counter(pred.tables) == Counter(gold.tables),
    }


def _match(pred: SpiderQuery, gold: SpiderQuery) -> bool:
    return all(component_matches(pred, gold).values())


def exact_set_match(pred: str, gold: str | SpiderQuery, schema: Schema | SpiderSchema) -> bool:
    """Spider's exact set match of ``pred`` against ``gold`` (SQL, or a ``SpiderQuery`` read already).

    A prediction the grammar cannot read is no match; a gold query it cannot read raises SpiderParseError.
    """
    spider = schema if isinstance(schema, SpiderSchema) else spider_schema(schema)
    gold_q = official_form(parse_spider_sql(gold, spider) if isinstance(gold, str) else gold, spider)
    try:
        pred_q = official_form(parse_spider_sql(pred, spider), spider)
    except SpiderParseError:
        return False
    return _match(pred_q, gold_q)


def mismatched_components(pred: str, gold: str, schema: Schema | SpiderSchema) -> list[str]:
    """The components of ``COMPONENTS`` on which ``pred`` and ``gold`` disagree (``["parse"]``: pred unreadable)."""
    try:
        pred_q = official_form(parse_spider_sql(pred, schema), schema)
    except SpiderParseError:
        return ["parse"]
    gold_q = official_form(parse_spider_sql(gold, schema), schema)
    return [name for name, ok in component_matches(pred_q, gold_q).items() if not ok]
