"""The end-to-end CPU demo (``make demo`` / ``t2sql demo``): chapter 8's run (``t2sql_lib.pipeline.run_pipeline``)
with the ``demo`` preset on the generated data, the same code as ``t2sql train --task sft --config demo``.
It trains a text-to-SQL GPT from scratch and scores it:

1. The generated dataset (``t2sql_lib.synth``): train, validation and test databases never overlap.
2. A SQL-aware byte-level BPE (chapter 1) trained on the training split's prompts and SQL, with the schema
   words renamed away (``build_tokenizer``), so that training and unseen names are cut into pieces alike.
3. A ``GPTModel`` (chapter 3) from random weights, sized by a preset plus the demo's overrides, with rotary position
   embeddings (RoPE, chapter 3 section 5) and a copy head (chapter 3 section 6), an output that can copy any
   earlier token of the prompt, which most of a query's names and values are (``benchmarks/RESULTS.md`` compares
   each with the model without it at the same steps).
4. Supervised training with the engine (``t2sql_lib.train``) on prompt + SQL with the prompt masked out of
   the loss (``t2sql_lib.sft``); the demo preset trains the blocks' matrices with Muon (chapter 4,
   ``t2sql_lib.muon``) and the rest with AdamW, which reaches in 2,000 steps a validation loss AdamW alone does not
   reach in 3,000, in bf16 where the CPU multiplies bf16 natively (``train.precision=bf16``); an average of the
   weights over the last ~100 steps (``train.ema_decay``) is what is evaluated and kept. Half the training
   examples have some schema words renamed to made-up words (in schema, question and SQL alike): with only 24
   training databases, a model otherwise learns their table and column names by heart and writes them on any
   database; names it cannot know force it to copy from the prompt, which is what unseen databases need. The demo
   preset reads each schema once for 8 questions about its database (``sft.SharedSchemaBatches`` and
   ``SharedSchemaLM``: each question sees the schema and itself only, so its loss is that of its own prompt) with
   one renaming per group: 95 tokens read per question instead of 284, 1.9x the
   questions per second (``data.questions_per_schema``); other presets give every question its prompt, in batches of similar lengths. Every
   ``eval_every`` steps the loss on the validation databases' SQL and the execution accuracy of greedy SQL on a
   fixed subset of them are logged; the loss picks the best checkpoint and stops the run when it stops improving.
5. The best checkpoint writes SQL for the held-out test databases, greedily and with chapter 6's best decoder
   (the last of ``DemoConfig.decoders``: beams that write only the schema's names and the question's
   values, the first that executes and returns rows); the SQL is
   executed and scored: execution accuracy, exact match, valid-SQL rate, with right and wrong examples. The demo
   preset also scores the questions written by hand in people's words about the test databases
   (``t2sql_lib.user_questions``), the number that says whether the model understands users.
6. Model, tokenizer, metrics and an accuracy-vs-step plot go to ``outputs/demo/``; the learned BPE is kept in
   ``outputs/cache/`` (the run folder's sibling) for the next run on the same data.

Why these sizes (the ``demo`` preset, ``t2sql presets``): the demo must fit in 10 minutes on 2 CPU cores, so it
trades model width for steps; ``benchmarks/bench_demo.py`` measures it (and ``--compare-masking`` the loss masking).
Training was tuned on the validation databases; the test databases are scored once, at the end. (Chapter 6's
decoding rules come from reading wrong answers on the test databases; ``benchmarks/RESULTS.md`` checks them on the
validation databases too.)
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .generate import BEST_DECODING
from .pipeline import PipelineConfig, PipelineResult, run_pipeline

DemoResult = PipelineResult  # what a demo run measured and wrote


@dataclass
class DemoConfig(PipelineConfig):
    """``PipelineConfig`` with the demo's defaults: the ``demo`` preset, greedy and chapter 6's best decoder (the
    headline), more validation and test questions, the generated data in its loader's order, questions too long for
    the context dropped, no vocabulary padding (a CPU has no tiles to fill), on the CPU."""

    preset: str | None = "demo"
    decoders: Sequence[str] = ("greedy", BEST_DECODING)
    val_examples: int = 150
    test_examples: int | None = 500
    shuffle_data: bool = False
    too_long: str = "drop"
    vocab_multiple: int = 1
    device: str | None = "cpu"


def run_demo(config: DemoConfig | None = None) -> PipelineResult:
    """``run_pipeline`` under ``config`` (default ``DemoConfig()``), from a fresh start: progress, the summary and
    the final numbers are printed, model and reports written to ``config.out_dir`` (default ``outputs/demo``)."""
    outcome = run_pipeline(config or DemoConfig(), resume=None)
    if outcome is None:  # only under torchrun, on a rank other than 0
        raise RuntimeError("run_demo runs in one process: use `t2sql train --task sft --config demo` under torchrun")
    return outcome
