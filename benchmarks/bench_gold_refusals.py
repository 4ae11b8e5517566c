"""How many gold queries the constrained decoders' masks refuse: every gold query of Spider's train and dev sets, the
generated data and the queries in other styles (``data/gold_styles.jsonl``), written token by token with a BPE
trained on each dataset's text and with GPT-2's BPE.

A query is refused when some token of it (or the end) is masked at its step (``first_refusal``). The rows:
``constrained`` (``SchemaConstraint``: names, the grammar), ``constrained+join_keys`` (its optional join-key rule, off
by default), ``constrained_values`` (``ValueConstraint``: values and numbers from the question, which refuses by
design a gold value the question does not hold). The execution-guided decoders pick among beams written under the
same masks. A refused Spider query that does not run on its database (a table the database lacks) is counted apart.

    python benchmarks/bench_gold_refusals.py                 # all of Spider (from ../shared), about 15 minutes
    python benchmarks/bench_gold_refusals.py --limit 300     # the first 300 questions of each set
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from t2sql_lib.generate import SchemaConstraint, TokenVocab, ValueConstraint, first_refusal
from t2sql_lib.paths import spider_dir, use_offline_tiktoken_cache
from t2sql_lib.prompts import build_example_text, build_target
from t2sql_lib.schema import Example
from t2sql_lib.sql import execute_sql
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import BPETokenizer

ROOT = Path(__file__).resolve().parent.parent
DECODERS = ("constrained", "constrained+join_keys", "constrained_values")


def load_sets(args: argparse.Namespace) -> tuple[dict[str, list[Example]], dict[str, list[str]]]:
    """The gold sets, and for each the texts its BPE is trained on (its training split)."""
    splits = load_generated(n_examples=args.generated, seed=0)
    generated = [e for split in splits.values() for e in split]
    schemas = {e.db_id: e.schema for e in generated}
    rows = [json.loads(line) for line in (ROOT / "data" / "gold_styles.jsonl").read_text().splitlines() if line]
    styles = [Example(r["question"], r["sql"], r["db_id"], None, schemas[r["db_id"]]) for r in rows]
    generated_text = [build_example_text(e) for e in splits["train"][:3000]]
    sets = {"generated": generated, "styles": styles}
    texts = {"generated": generated_text, "styles": generated_text}
    spider = spider_dir()
    if spider is None:
        print("no Spider folder (../shared/datasets/spider): Spider skipped")
    else:
        from t2sql_lib.spider import load_spider, load_spider_schemas

        spider_schemas = load_spider_schemas(spider)
        train = list(load_spider(spider, "train", hardness=False, schemas=spider_schemas))
        dev = list(load_spider(spider, "dev", hardness=False, schemas=spider_schemas))
        sets.update(spider_dev=dev, spider_train=train)
        spider_text = [f"{e.question} {e.sql}" for e in train]
        texts.update(spider_dev=spider_text, spider_train=spider_text)
    if args.limit:
        sets = {name: examples[: args.limit] for name, examples in sets.items()}
    return sets, texts


def refusals(examples: list[Example], vocab: TokenVocab, encode) -> dict[str, list[tuple[Example, object]]]:
    """Each decoder's refused queries, with the first refusal of each."""
    out: dict[str, list[tuple[Example, object]]] = {name: [] for name in DECODERS}
    plain: dict[str, SchemaConstraint] = {}
    joins: dict[str, SchemaConstraint] = {}
    for ex in examples:
        ids = encode(build_target(ex.sql))
        schema = plain.setdefault(ex.db_id, SchemaConstraint(ex.schema, vocab))
        joined = joins.setdefault(ex.db_id, SchemaConstraint(ex.schema, vocab, join_keys=True))
        for name, constraint in (("constrained", schema), ("constrained+join_keys", joined),
                                 ("constrained_values", ValueConstraint(schema, ex.question))):
            refusal = first_refusal(constraint, ids)
            if refusal is not None:
                out[name].append((ex, refusal))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=2000, help="generated questions (seed 0)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions of each set (0: all)")
    parser.add_argument("--bpe-vocab", type=int, default=1024)
    parser.add_argument("--show", type=int, default=3, help="refused queries printed per set and decoder")
    args = parser.parse_args()

    sets, texts = load_sets(args)
    encoders = []
    if use_offline_tiktoken_cache():
        import tiktoken

        gpt2 = tiktoken.get_encoding("gpt2")
        encoders.append(("gpt2", TokenVocab.from_tokenizer(gpt2), lambda s: gpt2.encode(s, allowed_special="all")))
    else:
        print("no offline copy of GPT-2's BPE: only the data's own BPE")
    bpes: dict[int, BPETokenizer] = {}
    print(f"{'set':<13} {'tokenizer':<9} {'queries':>7}  " + "  ".join(f"{d:>21}" for d in DECODERS) + "  seconds")
    for set_name, examples in sets.items():
        key = id(texts[set_name])
        if key not in bpes:
            bpes[key] = BPETokenizer.train(texts[set_name], vocab_size=args.bpe_vocab)
        bpe = bpes[key]
        for tok_name, vocab, encode in [("bpe", TokenVocab.from_tokenizer(bpe), bpe.encode)] + encoders:
            start = time.perf_counter()
            refused = refusals(examples, vocab, encode)
            broken = Counter()  # refused gold that does not run on its database either
            for name, rows in refused.items():
                broken[name] = sum(ex.db_path is not None and not execute_sql(ex.db_path, ex.sql).ok for ex, _ in rows)
            cells = [f"{len(refused[d]):>6} ({broken[d]} not run)" if broken[d] else f"{len(refused[d]):>21}"
                     for d in DECODERS]
            print(f"{set_name:<13} {tok_name:<9} {len(examples):>7}  " + "  ".join(f"{c:>21}" for c in cells)
                  + f"  {time.perf_counter() - start:7.1f}", flush=True)
            for name in DECODERS:
                for ex, r in refused[name][: args.show]:
                    print(f"    [{name}] {ex.sql}\n        refused {r.token!r} after {r.written!r}")


if __name__ == "__main__":
    main()
