"""The generated dataset: SQLite databases in many domains and question/SQL pairs, split by database.

Works offline and in CI, the default data of the course::

    from t2sql_lib.synth import load_generated
    splits = load_generated(n_examples=20_000, seed=0)   # {"train": [...], "validation": [...], "test": [...]}

``DOMAINS`` describes the databases (tables, columns, which split each belongs to), ``PATTERNS`` the
question/SQL templates, and ``build_databases`` writes the ``.sqlite`` files into the cache.
"""

from .build import (
    GENERATOR_VERSION,
    GeneratedDatabase,
    build_databases,
    database_dir,
    default_cache_dir,
    domain_rows,
    domain_schema,
    examples_path,
    generate_examples,
    load_generated,
    new_training_questions,
)
from .domains import DOMAINS, SPLITS, Domain, domains_in_split
from .patterns import PATTERNS, Draft, Pattern

__all__ = [
    "DOMAINS",
    "GENERATOR_VERSION",
    "PATTERNS",
    "SPLITS",
    "Domain",
    "Draft",
    "GeneratedDatabase",
    "Pattern",
    "build_databases",
    "database_dir",
    "default_cache_dir",
    "domain_rows",
    "domain_schema",
    "domains_in_split",
    "examples_path",
    "generate_examples",
    "load_generated",
    "new_training_questions",
]
