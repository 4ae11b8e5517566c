"""Spider's hardness buckets (easy / medium / hard / extra), by the rules of the official evaluation script.

The official script parses a query into its own structure and counts three things on the outermost query:

* **component 1**: WHERE, GROUP BY, ORDER BY, LIMIT present (1 each), one per extra joined table, one per
  OR connective and one per LIKE condition (in JOIN ... ON, WHERE and HAVING);
* **component 2**: nested queries: a subquery used as a condition's value, and an INTERSECT/UNION/EXCEPT;
* **others**: more than one "aggregate", more than one selected column, more than one WHERE condition,
  more than one GROUP BY column (1 each).

Here the same counts are taken on a sqlglot parse. The official script's "aggregate" count has two quirks we
keep so that buckets match the published ones: for a WHERE or HAVING condition it reads the condition's NOT
flag (``NOT IN``, ``NOT LIKE``, ``NOT BETWEEN``), and every AND/OR between HAVING conditions counts as one.

>>> spider_hardness("SELECT count(*) FROM singer")
'easy'
>>> spider_hardness("SELECT name, country, age FROM singer ORDER BY age DESC")
'medium'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from .sql import parse_sql

HARDNESS_LEVELS = ("easy", "medium", "hard", "extra")


@dataclass(frozen=True)
class HardnessCounts:
    """The three counts the bucket is decided from."""

    component1: int
    component2: int
    others: int


def _conditions(node: exp.Expression | None) -> tuple[list[exp.Expression], int]:
    """The leaf conditions of an AND/OR tree and the number of OR connectives in it."""
    if node is None:
        return [], 0
    while isinstance(node, exp.Paren) and isinstance(node.this, exp.Connector):
        node = node.this
    if isinstance(node, exp.Connector):
        left, left_ors = _conditions(node.this)
        right, right_ors = _conditions(node.expression)
        return left + right, left_ors + right_ors + isinstance(node, exp.Or)
    return [node], 0


def _is_negated(cond: exp.Expression) -> bool:
    # "x IS NOT NULL" reads as Not(Is) in sqlglot, but Spider's parser puts no NOT flag on it.
    # "x NOT LIKE y" is a Like with negate=True in recent sqlglot, not a Not wrapper.
    if isinstance(cond, (exp.Like, exp.ILike)) and cond.args.get("negate"):
        return True
    return isinstance(cond, exp.Not) and not isinstance(cond.this, exp.Is)


def _is_like(cond: exp.Expression) -> bool:
    inner = cond.this if isinstance(cond, exp.Not) else cond
    return isinstance(inner, (exp.Like, exp.ILike))


def _nested_in_condition(cond: exp.Expression) -> int:
    """Subqueries a condition uses as its value(s): ``x IN (SELECT ...)``, ``x > (SELECT ...)``."""
    inner = cond.this if isinstance(cond, exp.Not) else cond
    count = 0
    for child in inner.iter_expressions():
        if isinstance(child, (exp.Subquery, exp.Select, exp.SetOperation)):
            count += 1
    if isinstance(inner, exp.Exists):
        count = max(count, 1)
    return count


def _aggregates(node: exp.Expression, scope: exp.Select) -> int:
    """Aggregate calls in ``node`` that belong to ``scope`` (not to a subquery inside it)."""
    return sum(1 for agg in node.find_all(exp.AggFunc) if agg.find_ancestor(exp.Select) is scope)


def _unwrap_alias(node: exp.Expression) -> exp.Expression:
    return node.this if isinstance(node, exp.Alias) else node


def hardness_counts(sql: str | exp.Expression) -> HardnessCounts:
    """Component-1, component-2 and "others" counts of a query (raises SQLSyntaxError when it does not parse)."""
    tree = parse_sql(sql) if isinstance(sql, str) else sql
    component2 = 0
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    # In "A UNION B UNION C" the counts are A's; everything after it is one nested query.
    if isinstance(tree, exp.SetOperation):
        component2 += 1
        while isinstance(tree, exp.SetOperation):
            tree = tree.this
            while isinstance(tree, exp.Subquery):
                tree = tree.this
    if not isinstance(tree, exp.Select):
        return HardnessCounts(0, component2, 0)
    select = tree

    joins = select.args.get("joins") or []
    on_conds: list[exp.Expression] = []
    on_ors = 0
    for join in joins:
        conds, ors = _conditions(join.args.get("on"))
        on_conds += conds
        on_ors += ors
    where = select.args.get("where")
    having = select.args.get("having")
    group = select.args.get("group")
    order = select.args.get("order")
    where_conds, where_ors = _conditions(where.this if where else None)
    having_conds, having_ors = _conditions(having.this if having else None)
    group_items = list(group.expressions) if group else []

    component1 = sum(x is not None for x in (where, order, select.args.get("limit")))
    component1 += bool(group_items)
    component1 += len(joins)  # one per table after the first
    component1 += on_ors + where_ors + having_ors
    all_conds = on_conds + where_conds + having_conds
    component1 += sum(_is_like(c) for c in all_conds)
    component2 += sum(_nested_in_condition(c) for c in all_conds)

    aggregates = sum(1 for e in select.expressions if _aggregates(_unwrap_alias(e), select))
    aggregates += sum(_is_negated(c) for c in where_conds)  # the official NOT-flag quirk
    aggregates += sum(1 for g in group_items if _aggregates(g, select))
    if order is not None:
        aggregates += sum(_aggregates(o, select) for o in order.expressions)
    # HAVING: the official count sees each AND/OR connective, plus the NOT flags of its conditions.
    aggregates += max(len(having_conds) - 1, 0) + sum(_is_negated(c) for c in having_conds)
    others = int(aggregates > 1) + int(len(select.expressions) > 1)
    others += int(len(where_conds) > 1) + int(len(group_items) > 1)
    return HardnessCounts(component1, component2, others)


def hardness_from_counts(counts: HardnessCounts) -> str:
    """The bucket for a set of counts, by the official thresholds."""
    c1, c2, others = counts.component1, counts.component2, counts.others
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if ((others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0)
            or (c1 <= 1 and others == 0 and c2 <= 1)):
        return "hard"
    return "extra"


def spider_hardness(sql: str) -> str:
    """Spider's hardness bucket of a query: ``easy``, ``medium``, ``hard`` or ``extra``."""
    return hardness_from_counts(hardness_counts(sql))
