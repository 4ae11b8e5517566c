"""What bf16 autocast buys a CPU training step: the demo's model and batches in fp32, in bf16 with attention in fp32
(``attention.fused_attention``, what ``train.precision=bf16`` runs on a CPU with native bf16), and in bf16 with
attention in bf16 too, timed side by side.

The demo's model (the ``demo`` preset), tokenizer and shared-schema batches (8 questions after one schema), the same
initial weights for every mode. Each mode trains ``--steps`` steps through the engine's own pieces (forward under
``Precision.autocast``, summed loss, backward, Muon + AdamW step); the modes alternate ``--rounds`` times, and the
best median step time of each after ``--warmup`` steps gives the ratio to fp32. The mean loss of each mode's steps
says that bf16 trains the same thing (its rounding moves the loss in the third decimal after a few dozen steps).

    python benchmarks/bench_cpu_bf16.py --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F


@contextlib.contextmanager
def bf16_attention() -> Iterator[None]:
    """Let the fused attention kernel run in bf16 under CPU autocast (what ``fused_attention`` avoids)."""
    from t2sql_lib import attention, generate

    original = attention.fused_attention

    def plain(queries, keys, values, **kwargs):
        return F.scaled_dot_product_attention(queries, keys, values, **kwargs)

    attention.fused_attention = generate.fused_attention = plain
    try:
        yield
    finally:
        attention.fused_attention = generate.fused_attention = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--examples", type=int, default=6000, help="training questions to build batches from")
    args = parser.parse_args()

    from t2sql_lib.demo import DemoConfig
    from t2sql_lib.hardware import Precision, cpu_supports_bf16
    from t2sql_lib.model import GPTModel
    from t2sql_lib.pipeline import available_cpus
    from t2sql_lib.sft import (
        SharedSchemaBatches,
        SharedSchemaCollator,
        SharedSchemaLM,
        build_tokenizer,
        special_id,
    )
    from t2sql_lib.special_tokens import PAD
    from t2sql_lib.synth import load_generated
    from t2sql_lib.train import build_optimizer, call_model, lm_loss_sum

    threads = args.threads or available_cpus()
    torch.set_num_threads(threads)
    preset = DemoConfig().preset_settings()
    train_ex = load_generated(n_examples=preset.data.n_synth_examples, seed=0)["train"][: args.examples]
    tokenizer = build_tokenizer("bpe", train_ex, preset.data.tokenizer_vocab_size, renamed=True)
    batches_ds = SharedSchemaBatches(train_ex, tokenizer, max_length=preset.model.context_length,
                                     batch_size=preset.train.batch_size, questions_per_schema=8, rename_rate=0.5,
                                     rename_word_prob=0.5, seed=0)
    collate = SharedSchemaCollator(special_id(tokenizer, PAD))
    n = args.warmup + args.steps
    batches = [collate([batches_ds[i % len(batches_ds)]]) for i in range(n)]
    settings = dataclasses.replace(preset.model, vocab_size=tokenizer.n_vocab)
    torch.manual_seed(0)
    start = GPTModel(settings).state_dict()

    modes = {
        "fp32": ("fp32", contextlib.nullcontext),
        "bf16, attention fp32": ("bf16", contextlib.nullcontext),
        "bf16, attention bf16": ("bf16", bf16_attention),
    }
    times: dict[str, list[float]] = {m: [] for m in modes}
    losses: dict[str, float] = {}
    for _ in range(args.rounds):
        for mode, (name, attention_mode) in modes.items():
            model = GPTModel(settings)
            model.load_state_dict(start)
            wrapped = SharedSchemaLM(model)
            optimizer = build_optimizer(model, preset.train)
            precision = Precision(name=name, device_type="cpu", scaler=torch.amp.GradScaler("cuda", enabled=False))
            step_times, step_losses = [], []
            with attention_mode():
                for x, y in batches:
                    t0 = time.perf_counter()
                    with precision.autocast():
                        loss = lm_loss_sum(call_model(wrapped, x), y) / (y != -100).sum()
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    step_times.append(time.perf_counter() - t0)
                    step_losses.append(float(loss.detach()))
            times[mode].append(statistics.median(step_times[args.warmup:]))
            losses[mode] = statistics.fmean(step_losses)

    print(f"demo model ({settings.n_layers} x {settings.emb_dim}), {args.steps} steps of {preset.train.batch_size} "
          f"questions (8 per schema), {threads} thread(s); native bf16 on this CPU: {cpu_supports_bf16()}")
    base = min(times["fp32"])
    print(f"{'mode':<24}{'ms per step':>12}{'vs fp32':>9}{'mean loss':>11}")
    for mode in modes:
        best = min(times[mode])
        print(f"{mode:<24}{best * 1e3:>12.0f}{base / best:>8.2f}x{losses[mode]:>11.4f}")


if __name__ == "__main__":
    main()
