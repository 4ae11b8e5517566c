"""Build the generated SQLite databases and question/SQL examples, split by database, with a cache.

Layout of the cache (``cache_dir`` or ``data_dir() / "generated"``, git-ignored)::

    databases/<db_id>.sqlite              seed 0 (the default)
    databases/seed<k>/<db_id>.sqlite      any other seed
    databases/.../MANIFEST.json           generator version and a hash of each database's rows
    examples/v<version>-seed<k>-n<n>-<hash of the rows>.jsonl

Every file is written to a temporary name first and renamed into place, so a crash never leaves a
half-built database or a truncated example file in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..paths import data_dir
from ..schema import Column, Example, ForeignKey, Schema, Table
from .domains import DOMAINS, SPLITS, Domain, generate_rows
from .patterns import PATTERNS, DbContext, Draft, TableData

# Bump whenever domains, row generation or patterns change: it keys the caches.
GENERATOR_VERSION = "2"

_SQL_TYPES = {"text": "TEXT", "integer": "INTEGER", "real": "REAL", "date": "DATE"}


@dataclass
class GeneratedDatabase:
    """One built database: its domain, schema, file and the rows it holds (for Python answers)."""

    domain: Domain
    schema: Schema
    path: Path
    context: DbContext

    @property
    def db_id(self) -> str:
        """The database id (also the file's stem)."""
        return self.domain.db_id

    @property
    def split(self) -> str:
        """``train``, ``validation`` or ``test``."""
        return self.domain.split


def default_cache_dir() -> Path:
    """Where generated data lives unless told otherwise: ``data_dir() / "generated"``."""
    return data_dir() / "generated"


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def database_dir(cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The folder holding the databases for ``seed``."""
    _check_seed(seed)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "databases" if seed == 0 else root / "databases" / f"seed{seed}"


def domain_schema(domain: Domain) -> Schema:
    """The ``Schema`` of a domain's database: typed columns, primary keys, foreign keys."""
    tables = tuple(
        Table(name=t.name,
              columns=tuple(Column(c.name, c.type, display_name=c.words) for c in t.columns),
              primary_key=(t.pk.name,), display_name=t.plural)
        for t in domain.tables)
    fks = tuple(ForeignKey(t.name, c.name, c.ref, domain.table(c.ref).pk.name)
                for t in domain.tables for c in t.by_role("fk"))
    return Schema(db_id=domain.db_id, tables=tables, foreign_keys=fks)


def domain_rows(domain: Domain, seed: int) -> DbContext:
    """The rows of every table of ``domain`` for ``seed`` (deterministic: string seeds hash stably)."""
    rng = random.Random(f"t2sql-synth:{seed}:{domain.db_id}:rows")
    sizes: dict[str, int] = {}
    tables = []
    for spec in domain.tables:
        tables.append(TableData(spec, generate_rows(spec, rng, sizes)))
        sizes[spec.name] = spec.n_rows
    return DbContext(domain, tables)


def _create_table_sql(domain: Domain, table_name: str) -> str:
    t = domain.table(table_name)
    lines = []
    for c in t.columns:
        extra = " PRIMARY KEY" if c.role == "pk" else " NOT NULL"
        lines.append(f"  {c.name} {_SQL_TYPES[c.type]}{extra}")
    for c in t.by_role("fk"):
        lines.append(f"  FOREIGN KEY ({c.name}) REFERENCES {c.ref} ({domain.table(c.ref).pk.name})")
    return f"CREATE TABLE {t.name} (\n" + ",\n".join(lines) + "\n)"


def write_database(context: DbContext, path: Path) -> Path:
    """Write ``context``'s tables and rows to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        with conn:
            for table in context.tables:
                conn.execute(_create_table_sql(context.domain, table.name))
                marks = ", ".join("?" * len(table.spec.columns))
                conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", table.rows)
        # the same statements give the same file, but VACUUM also drops any free pages: byte-stable output
        conn.execute("VACUUM")
    finally:
        conn.close()
    os.replace(tmp, path)
    return path


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def fingerprint(context: DbContext) -> str:
    """A short hash of a database's schema and rows: the cache notices any change to the generated data."""
    digest = hashlib.sha256()
    for table in context.tables:
        digest.update(repr((table.name, [(c.name, c.type) for c in table.spec.columns], table.rows)).encode())
    return digest.hexdigest()[:16]


def _generated_databases(seed: int, cache_dir: str | Path | None, rebuild: bool = False
                         ) -> dict[str, GeneratedDatabase]:
    folder = database_dir(cache_dir, seed)
    manifest_path = folder / "MANIFEST.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict) or rebuild or manifest.get("generator_version") != GENERATOR_VERSION:
        manifest = {}  # unreadable, foreign or out-of-date manifest: rebuild every database
    built = manifest.get("databases") if isinstance(manifest.get("databases"), dict) else {}
    out = {}
    for db_id, domain in DOMAINS.items():
        context = domain_rows(domain, seed)
        path = (folder / f"{db_id}.sqlite").resolve()
        rows_hash = fingerprint(context)
        # rebuilt when missing, or when the rows the generator gives now differ from the file's
        if built.get(db_id) != rows_hash or not path.is_file():
            write_database(context, path)
            built[db_id] = rows_hash
        out[db_id] = GeneratedDatabase(domain, domain_schema(domain), path, context)
    wanted = {"generator_version": GENERATOR_VERSION, "seed": seed, "databases": built}
    if wanted != manifest:
        _write_text_atomic(manifest_path, json.dumps(wanted, indent=1, sort_keys=True) + "\n")
    return out


def build_databases(cache_dir: str | Path | None = None, seed: int = 0, rebuild: bool = False
                    ) -> dict[str, Path]:
    """Build (or reuse from the cache) every generated database; returns ``{db_id: path}``."""
    return {db_id: db.path for db_id, db in _generated_databases(seed, cache_dir, rebuild).items()}


def _quotas(n_examples: int, n_databases: int) -> list[int]:
    """``n_examples`` spread evenly over databases (the first ones take the remainder)."""
    base, extra = divmod(n_examples, n_databases)
    return [base + (1 if i < extra else 0) for i in range(n_databases)]


_NEW_QUESTION_TRIES = 24  # draws spent looking for a question not yet asked about this database
_MAX_TRIES = 200  # draws before giving up: a pattern can fail many times in a row on a small database


def _drafter(context: DbContext, rng: random.Random, accept: Callable[[Draft], bool] | None
             ) -> Callable[[str], Draft | None]:
    """A function drawing one instance of a named pattern; with ``accept``, only the drafts it accepts.

    With ``accept`` (a database the generator did not write, see ``from_database``), a pattern that raises
    on data it does not expect counts as not applying.
    """
    if accept is None:
        return lambda name: PATTERNS[name].fn(context, rng)

    def draw(name: str) -> Draft | None:
        try:
            draft = PATTERNS[name].fn(context, rng)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError):
            return None
        return draft if draft is not None and draft.answer and accept(draft) else None

    return draw


def generate_for_database(db: GeneratedDatabase, n: int, seed: int, accept: Callable[[Draft], bool] | None = None
                          ) -> list[tuple[Example, Draft]]:
    """``n`` examples for one database, each with the ``Draft`` (and so the Python answer) behind it.

    Patterns take turns among those that apply to this database; a pattern that cannot produce an
    instance here (no table with the columns it needs) is dropped after a few tries.
    A question already produced for this database is redrawn, so duplicates only remain when a
    database has run out of new ones. ``accept`` vets each draft (say, by running its SQL); with it, fewer
    than ``n`` examples come back when the patterns run dry, and none when no pattern applies.
    """
    rng = random.Random(f"t2sql-synth:{seed}:{db.db_id}:examples")
    draw = _drafter(db.context, rng, accept)
    names = sorted(PATTERNS)
    usable = []
    for name in names:  # probe: keep the patterns this schema supports
        if any(draw(name) is not None for _ in range(8)):
            usable.append(name)
    rng.shuffle(usable)
    seen: set[str] = set()
    out: list[tuple[Example, Draft]] = []
    for i in range(n if usable else 0):
        for attempt in range(_MAX_TRIES):
            # cycle through the patterns so each gets its share; fall back to any pattern when this one
            # keeps failing or repeating (small tables run out of new COUNT(*) questions quickly)
            name = usable[i % len(usable)] if attempt < 5 else rng.choice(usable)
            draft = draw(name)
            if draft is None or not draft.answer:
                continue
            k = rng.randrange(len(draft.questions))
            question = draft.questions[k]
            if question in seen and attempt < _NEW_QUESTION_TRIES:  # then a repeat is better than nothing
                continue
            break
        else:
            if accept is not None:  # vetted drafts can run out on a database the generator did not write
                break
            raise RuntimeError(f"{db.db_id}: no pattern produced an example in {_MAX_TRIES} tries")  # pragma: no cover
        seen.add(question)
        meta = {"pattern": name, "split": db.split, "phrasing": k}
        out.append((Example(question, draft.sql, db.db_id, db.path, db.schema, meta), draft))
    return out


def generate_examples(databases: dict[str, GeneratedDatabase], n_examples: int, seed: int
                      ) -> list[tuple[Example, Draft]]:
    """``n_examples`` examples over all databases (in ``DOMAINS`` order), with their drafts."""
    quotas = _quotas(n_examples, len(databases))
    out: list[tuple[Example, Draft]] = []
    for quota, db in zip(quotas, databases.values()):
        out.extend(generate_for_database(db, quota, seed))
    return out


def _check_args(n_examples: int, seed: int, splits: Iterable[str] | None) -> tuple[str, ...]:
    if not isinstance(n_examples, int) or isinstance(n_examples, bool) or n_examples <= 0:
        raise ValueError(f"n_examples must be a positive integer, got {n_examples!r}")
    _check_seed(seed)
    if isinstance(splits, str):
        splits = (splits,)
    wanted = tuple(splits) if splits is not None else SPLITS
    unknown = [s for s in wanted if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; expected some of {SPLITS}")
    return wanted


def _data_hash(fingerprints: Iterable[str]) -> str:
    return hashlib.sha256("".join(fingerprints).encode()).hexdigest()[:8]


def examples_path(cache_dir: str | Path | None, seed: int, n_examples: int,
                  databases: dict[str, GeneratedDatabase] | None = None) -> Path:
    """The JSONL file caching the examples for ``(seed, n_examples, GENERATOR_VERSION)``.

    The name also carries a short hash of the databases' rows, so examples written for other data
    are never read back. ``databases`` saves recomputing the rows when the caller has them.
    """
    _check_seed(seed)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    contexts = [db.context for db in databases.values()] if databases is not None else \
        [domain_rows(domain, seed) for domain in DOMAINS.values()]
    data = _data_hash(fingerprint(c) for c in contexts)
    return root / "examples" / f"v{GENERATOR_VERSION}-seed{seed}-n{n_examples}-{data}.jsonl"


def load_generated(n_examples: int = 20_000, seed: int = 0, cache_dir: str | Path | None = None,
                   splits: Iterable[str] | None = None, rebuild: bool = False) -> dict[str, list[Example]]:
    """The generated dataset: ``{"train": [...], "validation": [...], "test": [...]}`` of ``Example``.

    Splits are by database (no ``db_id`` is in two splits), so validation and test measure how well a
    model does on schemas it never saw. ``n_examples`` is the total over all splits, spread evenly
    over the databases, and each split comes in a seeded random order (databases mixed). The first
    call builds the databases and examples into the cache; later calls with the same
    ``(n_examples, seed)`` read them back. ``splits`` picks a subset; ``rebuild=True`` ignores the cache.
    """
    wanted = _check_args(n_examples, seed, splits)
    databases = _generated_databases(seed, cache_dir, rebuild)
    path = examples_path(cache_dir, seed, n_examples, databases)
    records = None
    if not rebuild and path.is_file():
        try:
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        except ValueError:
            records = None  # an unreadable cache file is rebuilt below
    if records is None or len(records) != n_examples or any(r.get("db_id") not in databases for r in records):
        examples = [ex for ex, _ in generate_examples(databases, n_examples, seed)]
        records = [{"question": e.question, "sql": e.sql, "db_id": e.db_id, "meta": e.meta} for e in examples]
        _write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    out: dict[str, list[Example]] = {s: [] for s in wanted}
    for r in records:
        db = databases[r["db_id"]]
        if db.split in out:
            out[db.split].append(Example(r["question"], r["sql"], db.db_id, db.path, db.schema, dict(r["meta"])))
    for name, examples in out.items():
        # records are grouped by database; a seeded shuffle mixes them so any slice shows every schema
        random.Random(f"t2sql-synth:{seed}:{name}:order").shuffle(examples)
    return out


def new_training_questions(n_examples: int = 20_000, seed: int = 0, cache_dir: str | Path | None = None) -> list[Example]:
    """New questions about the training databases: the ``train`` split of generator seed ``seed + 1`` (other rows,
    other questions on the same schemas), less every question in the ``train`` split of ``seed``. A model trained on
    seed ``seed`` shows on them how well it fits its own databases: names it knows, values it must copy."""
    trained_on = {e.question for e in load_generated(n_examples, seed, cache_dir, splits=("train",))["train"]}
    return [e for e in load_generated(n_examples, seed + 1, cache_dir, splits=("train",))["train"]
            if e.question not in trained_on]
