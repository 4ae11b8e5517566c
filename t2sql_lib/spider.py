"""The Spider loader: official ``train_spider.json`` / ``dev.json`` + ``tables.json`` + ``database/`` folder.

>>> dev = load_spider(split="dev")  # doctest: +SKIP
>>> len(dev), dev.skipped  # doctest: +SKIP
(972, {'no database': 62})
>>> dev[0].question, dev[0].sql, dev[0].meta["hardness"]  # doctest: +SKIP
('How many singers do we have?', 'SELECT count(*) FROM singer', 'easy')

Questions whose database is not in ``database/`` are counted and skipped, never a crash: the returned
``ExampleList`` says how many (``skipped``) and which ``db_id`` values were missing (``missing``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .hardness import spider_hardness
from .paths import display_path, raw_data_dir, shared_dir, spider_dir
from .schema import Column, Example, ExampleList, ForeignKey, Schema, Table
from .sql import SQLError

log = logging.getLogger(__name__)

SPLIT_FILES = {
    "train": ("train_spider.json",),
    "dev": ("dev.json",),
    "train_others": ("train_others.json",),
}


def resolve_spider_root(root: str | Path | None = None) -> Path:
    """The Spider folder to read: ``root`` when given, else the first one ``paths.spider_dir`` finds.

    FileNotFoundError lists the places and files looked for when there is none.
    """
    if root is not None:
        root = Path(root).expanduser()
        if not (root / "tables.json").is_file():
            raise FileNotFoundError(f"{root} is not a Spider folder: looked for {root / 'tables.json'}, "
                                    f"{root / 'dev.json'}, {root / 'train_spider.json'} and {root / 'database'}/")
        return root
    found = spider_dir()
    if found is None:
        looked = []
        if os.environ.get("T2SQL_SPIDER_DIR"):
            looked.append(Path(os.environ["T2SQL_SPIDER_DIR"]) / "tables.json")
        looked.append(raw_data_dir() / "spider" / "tables.json")
        shared = shared_dir()
        if shared is not None:
            looked.append(shared / "datasets" / "spider" / "tables.json")
        raise FileNotFoundError("no Spider folder found: looked for " + ", ".join(map(str, looked))
                                + " (set $T2SQL_SPIDER_DIR or pass root=)")
    return found


def read_json(path: Path) -> Any:
    """Parse a JSON file; ValueError names the file, line and column of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: malformed JSON: {err.msg}") from err


def _spider_schema(entry: dict[str, Any], source: Path, position: int) -> Schema:
    """A ``Schema`` from one ``tables.json`` entry (original names; Spider's readable names as display names)."""
    try:
        db_id = entry["db_id"]
        table_names = entry["table_names_original"]
        readable_tables = entry.get("table_names") or table_names
        cols = entry["column_names_original"]
        readable_cols = entry.get("column_names") or cols
        types = entry["column_types"]
        pk_ids: set[int] = set()
        for pk in entry.get("primary_keys", []):
            pk_ids.update(pk if isinstance(pk, list) else [pk])  # newer releases list composite keys
        columns: list[list[Column]] = [[] for _ in table_names]
        pks: list[list[str]] = [[] for _ in table_names]
        for i, (table_idx, name) in enumerate(cols):
            if table_idx < 0:  # the "*" pseudo-column
                continue
            columns[table_idx].append(Column(name=name, type=types[i], display_name=readable_cols[i][1]))
            if i in pk_ids:
                pks[table_idx].append(name)
        tables = tuple(Table(name=t, columns=tuple(columns[k]), primary_key=tuple(pks[k]),
                             display_name=readable_tables[k]) for k, t in enumerate(table_names))
        fks = tuple(ForeignKey(table=table_names[cols[a][0]], column=cols[a][1],
                               ref_table=table_names[cols[b][0]], ref_column=cols[b][1])
                    for a, b in entry.get("foreign_keys", []))
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: entry {position} ({entry.get('db_id', '?') if isinstance(entry, dict) else '?'})"
                         f" is not a Spider schema: {err!r}") from err
    return Schema(db_id=db_id, tables=tables, foreign_keys=fks)


def load_spider_schemas(root: str | Path | None = None) -> dict[str, Schema]:
    """Every schema in ``tables.json``, keyed by ``db_id``."""
    root = resolve_spider_root(root)
    path = root / "tables.json"
    entries = read_json(path)
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of schemas, got {type(entries).__name__}")
    return {s.db_id: s for s in (_spider_schema(e, path, i) for i, e in enumerate(entries))}


def spider_db_path(root: str | Path, db_id: str) -> Path:
    """Where Spider keeps the SQLite file of ``db_id``: ``database/<db_id>/<db_id>.sqlite``."""
    return Path(root) / "database" / db_id / f"{db_id}.sqlite"


def load_spider(root: str | Path | None = None, split: str = "train", *, hardness: bool = True,
                schemas: dict[str, Schema] | None = None) -> ExampleList:
    """Spider's ``split`` (``train``, ``dev``; ``train_others`` when present) as an ``ExampleList``.

    Each example's ``meta`` holds ``index`` (its position in the JSON file), ``split``, ``dataset`` and,
    with ``hardness=True``, Spider's ``hardness`` bucket. Questions without a database file are skipped
    and counted in ``result.skipped["no database"]``; ``result.missing`` lists those ``db_id`` values.
    Schemas come from ``tables.json``: original table and column names, Spider's readable names as
    ``display_name``, and Spider's column types (``text``, ``number``, ``time``, ``boolean``, ``others``).
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown Spider split {split!r}: choose one of {sorted(SPLIT_FILES)}")
    root = resolve_spider_root(root)
    files = [root / name for name in SPLIT_FILES[split]]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"Spider split {split!r}: looked for {path}, which is not there")
    schemas = schemas if schemas is not None else load_spider_schemas(root)
    examples: list[Example] = []
    missing: dict[str, int] = {}
    index = 0
    for path in files:
        entries = read_json(path)
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a JSON list of questions, got {type(entries).__name__}")
        for position, entry in enumerate(entries):
            try:
                db_id, question, sql = entry["db_id"], entry["question"], entry["query"]
            except (KeyError, TypeError) as err:
                raise ValueError(f"{path}: question {position} lacks {err} (needs db_id, question, query)") from err
            wrong = [f"{key!r}: {value!r}" for key, value in (("db_id", db_id), ("question", question), ("query", sql))
                     if not isinstance(value, str)]
            if wrong:  # a damaged gold file: an error rather than a silently smaller dataset
                raise ValueError(f"{path}: question {position} has {', '.join(wrong)}; db_id, question and query "
                                 "must be strings")
            if db_id not in schemas:
                raise ValueError(f"{path}: question {position} uses db_id {db_id!r}, "
                                 f"which {root / 'tables.json'} does not describe")
            db_path = spider_db_path(root, db_id)
            this_index, index = index, index + 1
            if not db_path.is_file():
                missing[db_id] = missing.get(db_id, 0) + 1
                continue
            meta: dict[str, Any] = {"dataset": "spider", "split": split, "index": this_index}
            if hardness:
                try:
                    meta["hardness"] = spider_hardness(sql)
                except SQLError:  # a gold query sqlglot cannot read: the bucket is unknown, the example is kept
                    meta["hardness"] = "unknown"
            examples.append(Example(question=question, sql=sql, db_id=db_id, db_path=db_path,
                                    schema=schemas[db_id], meta=meta))
    skipped = {"no database": sum(missing.values())} if missing else {}
    result = ExampleList(examples, source=", ".join(map(str, files)), skipped=skipped, missing=sorted(missing))
    if missing:
        log.warning("Spider %s: skipped %d questions whose database is missing (%s) under %s",
                    split, sum(missing.values()), ", ".join(sorted(missing)), display_path(root / "database"))
    return result
