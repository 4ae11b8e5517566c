"""Questions in people's words about the generated databases: the set that says whether the model understands users.

``data/user_questions/<db_id>.jsonl`` holds questions written by hand, not by the generator, with gold SQL, about
the validation databases (for every decision) and the test databases (reported)::

    from t2sql_lib.user_questions import load_user_questions
    test = load_user_questions("test")   # Examples on the seed-0 generated databases, meta["style"] = register tags

The gold SQL runs on the seed-0 databases of ``t2sql_lib.synth``, which are built into the cache when missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from .paths import project_root
from .schema import Example, ExampleList


def user_questions_dir() -> Path:
    """``<repo>/data/user_questions``: the committed question files (the repository's, not ``$T2SQL_DATA_DIR``)."""
    root = project_root()
    if root is None:
        raise FileNotFoundError("the user-phrased questions live in the repository's data/user_questions: "
                                "run from a clone of the project")
    return root / "data" / "user_questions"


def read_question_file(path: Path) -> list[dict]:
    """The records of one ``.jsonl`` file; a line that is not an object with ``question`` and ``sql`` is an error
    naming the file and the line."""
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{n}: not JSON ({err.msg})") from None
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) and record[k].strip()
                                                       for k in ("question", "sql")):
                raise ValueError(f"{path}:{n}: expected an object with non-empty 'question' and 'sql' strings")
            records.append(record)
    return records


def load_user_questions(split: str, folder: str | Path | None = None,
                        cache_dir: str | Path | None = None) -> ExampleList:
    """The user-phrased questions about the databases of ``split`` (``validation`` or ``test``), in file order,
    databases in the generator's order; ``meta`` has ``style`` (register tags), ``source`` and ``line``."""
    from .synth import DOMAINS, build_databases, domain_schema, domains_in_split

    if split not in ("validation", "test"):
        raise ValueError(f"split={split!r}: the user-phrased questions are about 'validation' or 'test' databases")
    folder = Path(folder) if folder is not None else user_questions_dir()
    paths = build_databases(cache_dir=cache_dir, seed=0)
    examples = []
    for domain in domains_in_split(split):
        path = folder / f"{domain.db_id}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no user-phrased questions for the {split} database {domain.db_id!r}")
        schema = domain_schema(DOMAINS[domain.db_id])
        for n, r in enumerate(read_question_file(path), 1):
            examples.append(Example(question=r["question"], sql=r["sql"], db_id=domain.db_id,
                                    db_path=paths[domain.db_id], schema=schema,
                                    meta={"style": list(r.get("style", [])), "source": "user", "line": n}))
    return ExampleList(examples, source=f"user questions ({split})")
