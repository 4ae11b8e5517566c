"""Hugging Face `datasets` views of the loaders (no Hub)."""

from __future__ import annotations

import datasets
import pytest

from t2sql_lib.hf import from_dataset, load_dataset_dict, to_dataset, to_dataset_dict
from t2sql_lib.special_tokens import ENDOFTEXT, SQL
from t2sql_lib.wikisql import load_wikisql, write_wikisql_fixture


@pytest.fixture()
def wikisql_dir(tmp_path):
    return write_wikisql_fixture(tmp_path / "wikisql")


def test_dataset_from_examples_round_trips(wikisql_dir):
    examples = load_wikisql(wikisql_dir, "dev")
    ds = to_dataset(examples, with_prompt=True)
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == len(examples)
    assert set(ds.column_names) == {"question", "sql", "db_id", "db_path", "hardness", "schema", "meta",
                                    "prompt", "target"}
    assert ds[0]["prompt"].endswith(SQL) and ds[0]["target"].endswith(ENDOFTEXT)
    back = from_dataset(ds)
    assert [(e.question, e.sql, e.db_id, e.db_path, e.schema, e.meta) for e in back] == \
        [(e.question, e.sql, e.db_id, e.db_path, e.schema, e.meta) for e in examples]


def test_map_and_filter_work(wikisql_dir):
    ds = to_dataset(load_wikisql(wikisql_dir, "dev"))
    with_len = ds.map(lambda r: {"n_chars": len(r["question"])})
    assert with_len[0]["n_chars"] == len(ds[0]["question"])
    assert ds.filter(lambda r: "MAX(" in r["sql"]).num_rows == 1
    assert to_dataset([]).num_rows == 0


def test_dataset_dict(wikisql_dir):
    dd = load_dataset_dict("wikisql", wikisql_dir)
    assert isinstance(dd, datasets.DatasetDict)
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 4, "dev": 7, "test": 2}
    same = to_dataset_dict({"dev": load_wikisql(wikisql_dir, "dev")})
    assert same["dev"]["sql"] == dd["dev"]["sql"]
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset_dict("imdb")


def test_spider_dataset_dict(spider):
    dd = load_dataset_dict("spider", spider, splits=("dev",))
    assert dd["dev"].num_rows == 972
    assert dd["dev"].filter(lambda r: r["hardness"] == "easy").num_rows == 232
