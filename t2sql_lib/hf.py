"""Hugging Face ``datasets`` views of our examples, so learners can use the familiar ``map``/``filter`` API.

Nothing here touches the Hub: datasets are built in memory from ``Example`` lists.

>>> ds = load_dataset_dict("spider", splits=("dev",), with_prompt=True)  # doctest: +SKIP
>>> ds["dev"].filter(lambda r: r["hardness"] == "easy").num_rows  # doctest: +SKIP
232

Columns: ``question``, ``sql``, ``db_id``, ``db_path``, ``hardness`` (Spider; else None), ``schema`` and
``meta`` (both JSON text, because their shape differs between databases and datasets, which Arrow's fixed
column types cannot hold), and with ``with_prompt=True`` the ``prompt`` and ``target`` strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets

from .prompts import build_prompt, build_target
from .schema import Example, Schema


def _record(example: Example, with_prompt: bool) -> dict[str, Any]:
    record = {
        "question": example.question,
        "sql": example.sql,
        "db_id": example.db_id,
        "db_path": str(example.db_path) if example.db_path else None,
        "hardness": example.meta.get("hardness"),
        "schema": json.dumps(example.schema.to_dict(), ensure_ascii=False),
        "meta": json.dumps(example.meta, ensure_ascii=False, default=str),
    }
    if with_prompt:
        record["prompt"] = build_prompt(example.schema, example.question)
        record["target"] = build_target(example.sql)
    return record


_FEATURES = {
    "question": datasets.Value("string"), "sql": datasets.Value("string"), "db_id": datasets.Value("string"),
    "db_path": datasets.Value("string"), "hardness": datasets.Value("string"),
    "schema": datasets.Value("string"), "meta": datasets.Value("string"),
}


def to_dataset(examples: Iterable[Example], with_prompt: bool = False) -> datasets.Dataset:
    """A ``datasets.Dataset`` with one row per example (see the module docstring for the columns)."""
    records = [_record(ex, with_prompt) for ex in examples]
    features = dict(_FEATURES)
    if with_prompt:
        features.update(prompt=datasets.Value("string"), target=datasets.Value("string"))
    # Built column by column with explicit features, so that an empty list, or a column that is None
    # everywhere (hardness outside Spider), still gets typed string columns.
    columns = {name: [r[name] for r in records] for name in features}
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def to_dataset_dict(splits: Mapping[str, Iterable[Example]], with_prompt: bool = False) -> datasets.DatasetDict:
    """A ``datasets.DatasetDict`` with one ``Dataset`` per split name."""
    return datasets.DatasetDict({name: to_dataset(exs, with_prompt) for name, exs in splits.items()})


def example_from_row(row: Mapping[str, Any]) -> Example:
    """The ``Example`` a dataset row was made from (the inverse of ``to_dataset``)."""
    return Example(question=row["question"], sql=row["sql"], db_id=row["db_id"],
                   db_path=Path(row["db_path"]) if row.get("db_path") else None,
                   schema=Schema.from_dict(json.loads(row["schema"])), meta=json.loads(row["meta"]))


def from_dataset(dataset: datasets.Dataset) -> list[Example]:
    """Every row of ``dataset`` back as an ``Example``."""
    return [example_from_row(row) for row in dataset]


def load_dataset_dict(name: str, root: str | Path | None = None, splits: Sequence[str] | None = None,
                      with_prompt: bool = False) -> datasets.DatasetDict:
    """Spider (``train``, ``dev``) or WikiSQL (``train``, ``dev``, ``test``) as a ``DatasetDict``."""
    if name == "spider":
        from .spider import load_spider, load_spider_schemas, resolve_spider_root

        root = resolve_spider_root(root)
        schemas = load_spider_schemas(root)
        splits = splits or ("train", "dev")
        return to_dataset_dict({s: load_spider(root, s, schemas=schemas) for s in splits}, with_prompt)
    if name == "wikisql":
        from .wikisql import load_wikisql

        splits = splits or ("train", "dev", "test")
        return to_dataset_dict({s: load_wikisql(root, s) for s in splits}, with_prompt)
    raise ValueError(f"unknown dataset {name!r}: choose 'spider' or 'wikisql'")
