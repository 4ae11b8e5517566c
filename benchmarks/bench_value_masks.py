"""What ``ValueConstraint.quote_tokens`` and ``percent_tokens`` save: the value masks of chapter 6 computed with the
pre-filter and with every token checked character by character, side by side on the same questions.

For ``--questions`` held-out test questions whose gold SQL quotes a value, the gold SQL is written token by token (a
1,024-id BPE trained on the training split, the demo's size) and at every token boundary the mask is computed from a
fresh ``ValueConstraint`` per question, as a decoder does. The schema constraint's masks are computed once beforehand
and shared, so only the value rules are timed. The two ways alternate ``--rounds`` times; the best round of each
gives the ratio, and every mask is checked to be the same both ways.

    python benchmarks/bench_value_masks.py
"""

from __future__ import annotations

import argparse
import time

import torch

from t2sql_lib.generate import SchemaConstraint, TokenVocab, ValueConstraint
from t2sql_lib.prompts import build_example_text
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import BPETokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits = load_generated(n_examples=20_000, seed=0)
    tokenizer = BPETokenizer.train([build_example_text(e) for e in splits["train"][:3000]], 1024)
    vocab = TokenVocab.from_tokenizer(tokenizer)
    questions = [e for e in splits["test"] if "'" in e.sql][: args.questions]
    schemas = {e.db_id: SchemaConstraint(e.schema, vocab) for e in questions}
    work = []  # (question, its database's constraint, [(state, value) at each token boundary])
    for e in questions:
        ids = tokenizer.encode(" " + e.sql)
        points = []
        for k in range(len(ids) + 1):
            text = tokenizer.decode(ids[:k])
            state = schemas[e.db_id].state_of(text)
            points.append((state, text[text.rfind("'") + 1:] if state.mode == "squote" else ""))
        work.append((e.question, schemas[e.db_id], points))
    for _, inner, points in work:  # the schema masks, shared by both ways, computed before the timing
        for state, _ in points:
            inner.allowed(state)

    def run(full: bool) -> tuple[float, list[torch.Tensor]]:
        masks = []
        start = time.perf_counter()
        for question, inner, points in work:
            values = ValueConstraint(inner, question)
            if full:
                values._quote_tokens = values._percent_tokens = torch.ones(len(vocab.texts), dtype=torch.bool)
            masks += [values.allowed(state, value) for state, value in points]
        return time.perf_counter() - start, masks

    best = {"pre-filter": float("inf"), "every token": float("inf")}
    same = True
    for _ in range(args.rounds):
        fast_s, fast = run(full=False)
        full_s, full = run(full=True)
        best["pre-filter"], best["every token"] = min(best["pre-filter"], fast_s), min(best["every token"], full_s)
        same = same and all(torch.equal(a, b) for a, b in zip(fast, full))
    n_points = sum(len(p) for _, _, p in work)
    n_quoted = sum(1 for _, _, p in work for s, _ in p if s.mode == "squote")
    print(f"{len(work)} test questions with a quoted value; {n_points} token boundaries, {n_quoted} inside a quote; "
          f"vocabulary {len(vocab.texts)}; {torch.get_num_threads()} thread(s)")
    for name, seconds in best.items():
        print(f"{name:<12} {seconds:7.3f} s   {1000 * seconds / len(work):7.2f} ms per question")
    print(f"pre-filter speed-up: {best['every token'] / best['pre-filter']:.2f}x; the same masks both ways: {same}")


if __name__ == "__main__":
    main()
