"""What reading each schema once saves in training: the demo's model and data, one prompt per question vs
``sft.SharedSchemaBatches`` + ``SharedSchemaLM``, timed side by side.

The demo's model (the ``demo`` preset: RoPE and a copy head, 4 x 128) from the same weights, the demo's tokenizer and
training split. Each layout trains ``--steps`` steps of ``train.batch_size`` questions (forward, summed loss,
backward, AdamW) on its own batches: one prompt per question in length-grouped batches (the demo's
``questions_per_schema=1``), and groups of 4 and 8 questions after one schema. The layouts alternate
``--rounds`` times; the best median step time of each, after ``--warmup`` steps, gives milliseconds per question,
and the ratio to one prompt per question is the speed-up. Tokens read per question (unpadded, over the epoch) say
how much of it is fewer tokens. The two layouts give each question the same loss (``tests/test_sft.py``), so only
the time differs for a given batch; which questions share a batch differs.

    python benchmarks/bench_shared_schema.py --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--groups", type=int, nargs="+", default=[4, 8], help="questions per schema to time")
    args = parser.parse_args()

    from t2sql_lib.demo import DemoConfig
    from t2sql_lib.model import GPTModel
    from t2sql_lib.pipeline import available_cpus
    from t2sql_lib.sft import (
        LengthGroupedBatches,
        SFTDataset,
        SharedSchemaBatches,
        SharedSchemaCollator,
        SharedSchemaLM,
        build_tokenizer,
        sft_collator,
        special_id,
    )
    from t2sql_lib.special_tokens import PAD
    from t2sql_lib.synth import load_generated
    from t2sql_lib.train import build_optimizer, call_model, input_tokens, lm_loss_sum

    torch.set_num_threads(args.threads or available_cpus())
    config = DemoConfig()
    preset = config.preset_settings()
    batch_size, max_len = preset.train.batch_size, preset.model.context_length
    train_ex = load_generated(n_examples=preset.data.n_synth_examples, seed=0)["train"]
    tokenizer = build_tokenizer("bpe", train_ex, preset.data.tokenizer_vocab_size, renamed=True)
    settings = dataclasses.replace(preset.model, vocab_size=tokenizer.n_vocab)
    torch.manual_seed(0)
    start = GPTModel(settings).state_dict()

    single = SFTDataset(train_ex, tokenizer, max_length=max_len)
    grouped = LengthGroupedBatches(single, batch_size, seed=0)
    collate = sft_collator(tokenizer)
    layouts = {"one prompt each": ([collate([grouped[i]]) for i in range(args.steps)], lambda m: m,
                                   sum(single.stats.lengths) / len(single))}
    for k in args.groups:
        shared = SharedSchemaBatches(train_ex, tokenizer, max_length=max_len, batch_size=batch_size,
                                     questions_per_schema=k, seed=0)
        counts = shared.token_counts()
        pad_collate = SharedSchemaCollator(special_id(tokenizer, PAD))
        layouts[f"{k} per schema"] = ([pad_collate([shared[i]]) for i in range(args.steps)], SharedSchemaLM,
                                      counts["read"] / shared.stats.kept)

    def run(batches, wrap) -> list[float]:
        model = GPTModel(settings)
        model.load_state_dict(start)
        optimizer = build_optimizer(model, preset.train)
        fed = wrap(model).train()
        times = []
        for x, y in batches:
            t0 = time.perf_counter()
            loss = lm_loss_sum(call_model(fed, x), y) / (y != -100).sum()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        return times[args.warmup:]

    best = {name: float("inf") for name in layouts}
    for _ in range(args.rounds):
        for name, (batches, wrap, _) in layouts.items():
            best[name] = min(best[name], statistics.median(run(batches, wrap)))

    print(f"demo model {settings.n_layers} x {settings.emb_dim} (copy head {settings.copy_head}), batches of "
          f"{batch_size} questions, {torch.get_num_threads()} thread(s), median of {args.steps - args.warmup} steps, "
          f"best of {args.rounds} rounds")
    print(f"{'layout':<16} {'tokens read/question':>21} {'padded tokens/step':>19} {'ms/step':>8} {'ms/question':>12} "
          f"{'speed-up':>9}")
    base = best["one prompt each"]
    for name, (batches, _, per_question) in layouts.items():
        padded = statistics.mean(input_tokens(x) for x, _ in batches)
        print(f"{name:<16} {per_question:>21.0f} {padded:>19.0f} {best[name] * 1e3:>8.1f} "
              f"{best[name] * 1e3 / batch_size:>12.2f} {base / best[name]:>8.2f}x")


if __name__ == "__main__":
    main()
