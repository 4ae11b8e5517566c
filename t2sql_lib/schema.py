"""The one example format every dataset loader returns: ``Example`` and its database ``Schema``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Column:
    """A column: its name, SQLite type (``text``, ``integer``, ``real``, ``date``...) and a readable name."""

    name: str
    type: str = "text"
    display_name: str | None = None  # WikiSQL/Spider keep a human-readable name beside the real one


@dataclass(frozen=True)
class ForeignKey:
    """``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    """A table with its columns and primary-key column names."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    display_name: str | None = None

    def column(self, name: str) -> Column:
        """The column called ``name`` (case-insensitive); KeyError names the table when it is absent."""
        for col in self.columns:
            if col.name.lower() == name.lower():
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")


@dataclass(frozen=True)
class Schema:
    """A database schema: tables, columns with types, primary and foreign keys."""

    db_id: str
    tables: tuple[Table, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()

    def table(self, name: str) -> Table:
        """The table called ``name`` (case-insensitive); KeyError names the database when it is absent."""
        for table in self.tables:
            if table.name.lower() == name.lower():
                return table
        raise KeyError(f"database {self.db_id!r} has no table {name!r}")

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def column_names(self) -> list[str]:
        """Every column name, de-duplicated, in schema order."""
        seen: dict[str, None] = {}
        for table in self.tables:
            for col in table.columns:
                seen.setdefault(col.name, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        tables = tuple(
            Table(
                name=t["name"],
                columns=tuple(Column(**c) for c in t["columns"]),
                primary_key=tuple(t.get("primary_key", ())),
                display_name=t.get("display_name"),
            )
            for t in d["tables"]
        )
        fks = tuple(ForeignKey(**fk) for fk in d.get("foreign_keys", ()))
        return cls(db_id=d["db_id"], tables=tables, foreign_keys=fks)


@dataclass
class Example:
    """One text-to-SQL example: a question, its gold SQL, and the database it runs on."""

    question: str
    sql: str
    db_id: str
    db_path: Path | None
    schema: Schema
    meta: dict[str, Any] = field(default_factory=dict)  # dataset-specific extras (hardness, pattern, split...)

    def to_record(self) -> dict[str, Any]:
        """A flat dict for pandas / Hugging Face ``datasets`` (the schema as a nested dict)."""
        return {
            "question": self.question,
            "sql": self.sql,
            "db_id": self.db_id,
            "db_path": str(self.db_path) if self.db_path else None,
            "schema": self.schema.to_dict(),
            "meta": dict(self.meta),
        }


class ExampleList(list):
    """A list of ``Example`` that also records what its loader skipped and why.

    ``skipped`` maps a reason (``"no database"``) to a count; ``missing`` names what was missing
    (for Spider, the ``db_id`` values whose database file is absent); ``total`` counts both.
    """

    def __init__(self, examples=(), *, source: str | None = None, skipped: dict[str, int] | None = None,
                 missing: list[str] | None = None):
        super().__init__(examples)
        self.source = source
        self.skipped = dict(skipped or {})
        self.missing = list(missing or [])
        self.total = len(self) + self.n_skipped  # entries in the source, loaded or skipped

    @property
    def n_skipped(self) -> int:
        """How many entries the loader skipped, all reasons together."""
        return sum(self.skipped.values())

    def summary(self) -> str:
        """One line: how many examples were loaded from where, and what was skipped."""
        line = f"{len(self)} examples from {self.source or '<memory>'}"
        if self.skipped:
            line += "; skipped " + ", ".join(f"{n} ({why})" for why, n in self.skipped.items())
        return line
