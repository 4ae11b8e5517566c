"""The end-to-end CPU demo (``make demo`` / ``t2sql demo``): train a text-to-SQL GPT from scratch and score it.

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
   (``DemoConfig.decoding``: beams that write only the schema's names and the question's
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

import dataclasses
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import Preset, get_preset
from .evaluate import EvalReport
from .generate import BEST_DECODING
from .model_folder import save_model_folder, tokenizer_json
from .paths import display_path, outputs_dir
from .schema import Example
from .sft import (
    LengthGroupedBatches,
    SFTDataset,
    SharedSchemaBatches,
    SharedSchemaCollator,
    SharedSchemaLM,
    augment_with_renaming,
    build_tokenizer,
    evaluate_model,
    execution_eval_fn,
    sft_collator,
    special_id,
)
from .special_tokens import PAD


@dataclass
class DemoConfig:
    """What the demo runs: a preset and overrides, the tokenizer, the evaluation sizes, where to write."""

    preset: str = "demo"  # a preset name (config.PRESETS, `t2sql presets`) or a YAML/JSON file
    extra_overrides: Sequence[str] = ()  # ``section.key=value`` changes to the preset (the command line's)
    tokenizer: str = "bpe"  # "bpe": chapter 1's BPE trained on the training split; "gpt2": GPT-2's, with the specials
    mask_prompt: bool = True  # score only the SQL (and <|endoftext|>); False scores the prompt too
    # Fraction of training questions rewritten by the surface grammar (synth.surface: openers, words for comparisons
    # and aggregates, synonyms, politeness, typing), so that the model meets people's ways of asking.
    # None: the preset's ``data.question_variety``.
    question_variety: float | None = None
    # Append to every question the database values it names, spelt as stored (t2sql_lib.value_hints), in training
    # and in scoring; with them, the surface grammar also lower-cases values (people type "fairhaven").
    # None: the preset's ``data.value_hints``.
    value_hints: bool | None = None
    # Human-written Spider training questions (from $T2SQL_SPIDER_DIR, data/raw/spider or ../shared) mixed into the
    # training split, their SQL in the generator's style (sqlglot: upper-case keywords); 0: none. Skipped, saying
    # so, when no Spider folder is found.
    spider_questions: int = 0
    rename_rate: float = 0.5  # fraction of training examples whose schema words are renamed (sft.rename_schema_words)
    rename_word_prob: float = 0.5  # in such an example, the chance that each schema word is renamed
    # Learn the BPE merges from the training text with every schema word renamed (see build_tokenizer)
    tokenizer_on_renamed: bool = True
    # Questions about one database that share one reading of its schema in training (sft.SharedSchemaBatches,
    # SharedSchemaLM): 1 gives every question a prompt of its own; more process fewer tokens for the same loss.
    # ``schema_views``: how many times the training questions are grouped (each time shuffled and renamed anew).
    # None: the preset's ``data.questions_per_schema`` and ``data.schema_views``.
    questions_per_schema: int | None = None
    schema_views: int | None = None
    group_by_length: bool = True  # batches of similar lengths (sft.LengthGroupedBatches): fewer pads to compute
    val_examples: int = 150  # validation questions decoded at each evaluation (a fixed, seeded subset)
    test_examples: int | None = 500  # test questions in the final score (None: the whole test split)
    # How the final test SQL is written (a name in generate.DECODERS); greedy is scored too, for comparison.
    # Chapter 6's best: only the schema's names and the question's values, 4 beams, the first that executes and
    # returns rows.
    decoding: str = BEST_DECODING
    max_new_tokens: int = 128  # longest SQL generated, in tokens (the longest gold target is ~115 BPE tokens)
    decode_batch_size: int = 32
    data_seed: int = 0
    threads: int | None = None  # torch threads (None: the CPUs this process may use)
    out_dir: str | Path | None = None  # default: outputs/demo
    progress: bool = True
    n_examples_shown: int = 3  # right and wrong predictions printed at the end
    # also score the questions written in people's words about the test databases (data/user_questions);
    # None: with the demo preset (a tiny model's score on them is zero and costs the notebooks time)
    user_questions: bool | None = None

    def preset_settings(self) -> Preset:
        """The preset with ``extra_overrides`` applied."""
        return get_preset(self.preset).with_overrides(list(self.extra_overrides))

    def people_words(self) -> tuple[float, bool]:
        """``(question_variety, value_hints)`` with the preset's filled in."""
        data = self.preset_settings().data
        return (self.question_variety if self.question_variety is not None else data.question_variety,
                self.value_hints if self.value_hints is not None else data.value_hints)

    def scores_user_questions(self) -> bool:
        """``user_questions`` with its default filled in."""
        return self.user_questions if self.user_questions is not None else self.preset == "demo"

    def shared_schema(self) -> tuple[int, int]:
        """``(questions_per_schema, schema_views)`` with the preset's filled in; a loss on every token
        (``mask_prompt=False``) needs every question's own prompt: (1, 1)."""
        data = self.preset_settings().data
        default = (data.questions_per_schema, data.schema_views) if self.mask_prompt else (1, 1)
        return (self.questions_per_schema if self.questions_per_schema is not None else default[0],
                self.schema_views if self.schema_views is not None else default[1])


@dataclass
class DemoResult:
    """What a demo run measured and wrote."""

    report: EvalReport  # the final score on the test databases, with ``DemoConfig.decoding``
    out_dir: Path
    wall_time_s: float  # everything: data, tokenizer, training, evaluations, saving
    train_time_s: float  # the engine's loop, periodic evaluations included
    steps: int
    best_step: int | None
    best_val_loss: float | None
    best_val_execution_accuracy: float | None  # at best_step
    evals: list[dict[str, float]] = field(default_factory=list)
    data_stats: dict[str, str] = field(default_factory=dict)
    n_parameters: int = 0
    threads: int = 1
    greedy_report: EvalReport | None = None  # the same questions decoded greedily (the report itself when greedy)
    # the user-phrased questions about the test databases (data/user_questions), configured and greedy decoding
    user_report: EvalReport | None = None
    user_greedy_report: EvalReport | None = None

    def metrics(self) -> dict[str, float]:
        """The headline numbers on the test databases."""
        s = self.report.summary()["all"]
        out = {k: float(s[k]) for k in ("execution_accuracy", "exact_match", "valid_sql")}
        if self.user_report is not None:
            out["user_execution_accuracy"] = float(self.user_report.summary()["all"]["execution_accuracy"])
        return out


def cpu_precision(requested: str) -> str:
    """What the engine will train in on this CPU for ``train.precision=requested`` (its warning, if any, comes later)."""
    from .hardware import resolve_precision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_precision(requested, "cpu")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def examples_table(report: EvalReport, correct: bool, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` per-example records whose execution match is ``correct`` (in test-split order)."""
    rows = [r for r in report.records if bool(r.get("execution_accuracy")) == correct]
    return [{k: r.get(k) for k in ("db_id", "question", "gold", "prediction", "valid_sql", "error")} for r in rows[:n]]


def build_datasets(config: DemoConfig, preset: Preset, tokenizer: Any, train_ex: Sequence[Example],
                   val_ex: Sequence[Example]) -> tuple[Any, Any]:
    """The training and validation datasets of ``run_demo``'s step 3, with a line on what they hold.

    Training: ``SharedSchemaBatches`` when questions share a schema (``DemoConfig.shared_schema``), else an
    ``SFTDataset`` of the examples, ``rename_rate`` of them renamed. Validation: always the SQL's loss, read the
    training way, so that runs with and without prompt masking compare. The datasets' warnings about questions
    dropped as too long are left out: the printed summary counts them.
    """
    max_len, s = preset.model.context_length, preset.train
    per_schema, views = config.shared_schema()
    if per_schema > 1 and not config.mask_prompt:
        raise ValueError("questions_per_schema > 1 scores the SQL only: it needs mask_prompt=True")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(SFTDataset|SharedSchemaBatches): ", category=UserWarning)
        if per_schema > 1:
            train_ds: Any = SharedSchemaBatches(
                train_ex, tokenizer, max_length=max_len, batch_size=s.batch_size, questions_per_schema=per_schema,
                rename_rate=config.rename_rate, rename_word_prob=config.rename_word_prob, views=views, seed=s.seed)
            # the same loss per question, read the training way (the engine has one collate function)
            val_ds: Any = SharedSchemaBatches(val_ex, tokenizer, max_length=max_len, batch_size=s.batch_size,
                                              questions_per_schema=per_schema, seed=s.seed)
            n_renamed = sum("renamed" in ex.meta for batch in train_ds.examples for ex in batch)
            counts = train_ds.token_counts()
            print(f"shared schemas: {len(train_ds)} batches of {s.batch_size // per_schema} schemas x "
                  f"{per_schema} questions ({views} grouping(s)); "
                  f"{counts['read'] / train_ds.stats.kept:.0f} tokens read per question "
                  f"({counts['one_prompt_each'] / train_ds.stats.kept:.0f} with a prompt each; "
                  f"{time.perf_counter() - t0:.1f} s)")
        else:
            train_aug = augment_with_renaming(train_ex, config.rename_rate, seed=s.seed,
                                              word_prob=config.rename_word_prob)
            n_renamed = sum(a is not b for a, b in zip(train_aug, train_ex))
            train_ds = SFTDataset(train_aug, tokenizer, max_length=max_len, mask_prompt=config.mask_prompt)
            val_ds = SFTDataset(val_ex, tokenizer, max_length=max_len, mask_prompt=True)
    print(f"train: {train_ds.stats.summary()}; {n_renamed} with renamed schema words; "
          f"{train_ds.n_scored_tokens():,} scored tokens per epoch "
          f"({'SQL only' if config.mask_prompt else 'every token'})")
    return train_ds, val_ds


def score_user_questions(model: torch.nn.Module, tokenizer: Any, config: DemoConfig,
                         info: dict[str, Any]) -> tuple[EvalReport | None, EvalReport | None]:
    """The questions in people's words about the test databases, greedy and with ``config.decoding``; ``(None,
    None)`` when ``config`` does not score them."""
    if not config.scores_user_questions():
        return None, None
    from .user_questions import load_user_questions

    user_test = load_user_questions("test")
    if config.people_words()[1]:  # asked the way the model was trained: with value hints
        from .value_hints import add_value_hints

        user_test = add_value_hints(user_test)
    return score_questions(model, tokenizer, user_test, config, {**info, "questions": "user-phrased"})


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """Run the whole pipeline of the module docstring under ``config``; print progress and the final numbers."""
    from .checkpoint import BEST, has_checkpoint, load_checkpoint
    from .model import GPTModel
    from .synth import load_generated
    from .train import RunOptions, TrainTask, train

    config = config or DemoConfig()
    t_start = time.perf_counter()
    threads = config.threads or available_cpus()
    torch.set_num_threads(threads)  # one thread per core: more only contend
    preset = config.preset_settings()
    out = Path(config.out_dir) if config.out_dir is not None else outputs_dir() / "demo"
    out.mkdir(parents=True, exist_ok=True)

    # 1. Data, split by database
    splits = load_generated(n_examples=preset.data.n_synth_examples, seed=config.data_seed)
    train_ex, val_ex, test_ex = people_words_data(config, splits["train"], splits["validation"], splits["test"])
    # The splits come shuffled with a fixed seed, so their first k examples are a fixed sample of every database.
    val_subset = val_ex[: config.val_examples]
    test_subset = test_ex if config.test_examples is None else test_ex[: config.test_examples]
    db_names = {name: sorted({e.db_id for e in ex}) for name, ex in splits.items()}
    n_varied = sum("template_question" in e.meta for e in train_ex)
    n_hinted = sum("plain_question" in e.meta for e in train_ex)
    print(f"data: {len(train_ex)} train questions ({n_varied} reworded, {n_hinted} with value hints) on "
          f"{len({e.db_id for e in train_ex})} databases, {len(val_ex)} validation on {db_names['validation']}, "
          f"{len(test_ex)} test on {db_names['test']}")

    # 2. Tokenizer
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(config.tokenizer, train_ex, preset.data.tokenizer_vocab_size,
                                renamed=config.tokenizer_on_renamed, cache_dir=out.parent / "cache")
    print(f"tokenizer: {config.tokenizer}, {tokenizer.n_vocab} ids ({time.perf_counter() - t0:.1f} s)")

    # 3. Datasets with the prompt masked out of the loss; part of the training set with renamed schema words
    train_ds, val_ds = build_datasets(config, preset, tokenizer, train_ex, val_ex)
    data_stats = {"train": train_ds.stats.summary(), "validation": val_ds.stats.summary()}
    s = preset.train
    shared = isinstance(train_ds, SharedSchemaBatches)

    # 4. The model, from random weights; its vocabulary is exactly the tokenizer's
    model_settings = dataclasses.replace(preset.model, vocab_size=tokenizer.n_vocab)
    torch.manual_seed(preset.train.seed)
    model = GPTModel(model_settings)
    n_params = model.num_parameters()
    print(f"model: {model_settings.n_layers} layers x {model_settings.emb_dim} d_model, context "
          f"{model_settings.context_length}, {n_params / 1e6:.2f}M parameters; {s.max_steps} steps of "
          f"{s.batch_size * s.grad_accum_steps} sequences on {threads} CPU thread(s) in {cpu_precision(s.precision)}, "
          f"execution accuracy on "
          f"{len(val_subset)} validation questions every {s.eval_every} steps")

    # 5. Training with periodic execution accuracy and early stopping on it
    train_data, val_data, engine_settings = train_ds, val_ds, s
    collate, wrap = sft_collator(tokenizer), None
    if shared:  # ready-made batches of groups, read by SharedSchemaLM
        engine_settings = dataclasses.replace(s, batch_size=1)
        collate, wrap = SharedSchemaCollator(special_id(tokenizer, PAD)), SharedSchemaLM
    elif config.group_by_length:
        # the engine then draws one ready-made batch of batch_size sequences per micro-batch
        train_data = LengthGroupedBatches(train_ds, s.batch_size, seed=s.seed)
        val_data = LengthGroupedBatches(val_ds, s.batch_size, seed=s.seed)
        engine_settings = dataclasses.replace(s, batch_size=1)
        print(f"length-grouped batches: {train_data.padding_fraction():.0%} padding "
              f"(random batches: {LengthGroupedBatches(train_ds, s.batch_size, s.seed, 1).padding_fraction():.0%})")
    eval_fn = execution_eval_fn(tokenizer, val_subset, prefix="val", max_new_tokens=config.max_new_tokens,
                                batch_size=config.decode_batch_size)
    run_dir = out / "run"
    t0 = time.perf_counter()
    task = TrainTask(val_data=val_data, eval_fn=eval_fn, collate_fn=collate, wrap_model=wrap)
    options = RunOptions(out_dir=run_dir, config={**preset.to_dict(), "model": dataclasses.asdict(model_settings)},
                         tokenizer=tokenizer_json(tokenizer), device="cpu", progress=config.progress)
    result = train(model, train_data, engine_settings, task, options)
    train_time = time.perf_counter() - t0
    ckpt_root = run_dir / "checkpoints"
    if result.best_step is not None and has_checkpoint(ckpt_root):
        loaded = load_checkpoint(ckpt_root, model=model, which=BEST)
        print(f"loaded the best checkpoint: step {loaded['step']}, {s.early_stopping_metric} {result.best_metric:.4f}")

    # 6. The held-out test databases: the generator's questions and questions in people's words, greedy and with
    # the configured decoder (chapter 6) for the headline
    info = {"split": "test", "databases": db_names["test"], "step": result.best_step}
    t0 = time.perf_counter()
    greedy_report, report = score_questions(model, tokenizer, test_subset, config, info)
    user_greedy, user_report = score_user_questions(model, tokenizer, config, info)
    test_time = time.perf_counter() - t0
    wall = time.perf_counter() - t_start

    # 7. Save
    save_outputs(out, model, tokenizer, report, preset, config, result, wall)
    best_eval = next((e for e in result.evals if e["step"] == result.best_step), {})
    demo = DemoResult(report=report, out_dir=out, wall_time_s=wall, train_time_s=train_time, steps=result.step,
                      best_step=result.best_step, best_val_loss=best_eval.get("val_loss"),
                      best_val_execution_accuracy=best_eval.get("val_execution_accuracy"),
                      evals=result.evals, data_stats=data_stats, n_parameters=n_params, threads=threads,
                      greedy_report=greedy_report, user_report=user_report, user_greedy_report=user_greedy)
    if user_report is not None:
        user_report.save_json(out / "user_report.json")
    print_summary(demo, test_time, config.n_examples_shown)
    return demo


def people_words_data(config: DemoConfig, train: Sequence[Example], val: Sequence[Example], test: Sequence[Example]
                      ) -> tuple[list[Example], list[Example], list[Example]]:
    """The splits as the run uses them: Spider's questions added to training (``spider_questions``), part of the
    training questions reworded (``question_variety``), and value hints on every split (``value_hints``)."""
    train, val, test = list(train), list(val), list(test)
    if config.spider_questions:
        train += spider_training_questions(config.spider_questions, seed=config.data_seed)
    variety, hints = config.people_words()
    if variety:
        from .synth.surface import vary_examples

        train = vary_examples(train, variety, seed=config.data_seed, value_case=0.3 if hints else 0.0)
    if hints:
        from .value_hints import add_value_hints

        train, val, test = add_value_hints(train), add_value_hints(val), add_value_hints(test)
    return train, val, test


def spider_training_questions(n: int, seed: int = 0) -> list[Example]:
    """Up to ``n`` Spider training questions (a seeded sample) whose SQL is rewritten in the generator's style
    (``sqlglot``: upper-case keywords and functions); none, with a message, when no Spider folder is found."""
    import random

    import sqlglot

    from .paths import spider_dir
    from .spider import load_spider

    root = spider_dir()
    if root is None:
        print("spider_questions: no Spider folder ($T2SQL_SPIDER_DIR, data/raw/spider, ../shared): generated data only")
        return []
    examples = list(load_spider(root, "train", hardness=False))
    random.Random(f"t2sql-demo:{seed}:spider").shuffle(examples)
    out = []
    for ex in examples[:n]:
        try:
            sql = sqlglot.transpile(ex.sql, read="sqlite", write="sqlite")[0]
        except sqlglot.errors.SqlglotError:  # a gold query sqlglot cannot read stays out of training
            continue
        out.append(dataclasses.replace(ex, sql=sql))
    print(f"spider: {len(out)} human-written training questions on {len({e.db_id for e in out})} databases")
    return out


def score_questions(model: torch.nn.Module, tokenizer: Any, examples: Sequence[Example], config: DemoConfig,
                    info: dict[str, Any]) -> tuple[EvalReport, EvalReport]:
    """``(greedy, configured)`` reports on ``examples``; one report twice when the configured decoding is greedy."""
    kwargs = dict(max_new_tokens=config.max_new_tokens, batch_size=config.decode_batch_size, info=info)
    greedy = evaluate_model(model, tokenizer, examples, **kwargs)
    if config.decoding == "greedy":
        return greedy, greedy
    return greedy, evaluate_model(model, tokenizer, examples, decoding=config.decoding, **kwargs)


def save_outputs(out: Path, model: torch.nn.Module, tokenizer: Any, report: EvalReport, preset: Preset,
                 config: Any, result: Any, wall: float) -> None:
    """Write the model folder (``t2sql_lib.model_folder``: weights, tokenizer, the preset and the run's settings),
    the test report and the accuracy plot."""
    demo = _plain_settings(config)
    if isinstance(config, DemoConfig):  # (the pipeline saves through here too, with its own config)
        # what the run used, defaults filled in: `t2sql ask` gives the model value hints when it was trained with them
        demo["question_variety"], demo["value_hints"] = config.people_words()
    save_model_folder(out, model, tokenizer, {"preset": preset.to_dict(), "demo": demo})
    report.info.update(wall_time_s=round(wall, 1), steps=result.step, evals=result.evals)
    report.save_json(out / "test_report.json")
    try:
        # a Figure outside pyplot: drawn straight to the file, leaving the session's backend and open figures alone
        from matplotlib.figure import Figure

        from .train import plot_metrics

        fig = Figure(figsize=(7, 4))
        plot_metrics(result, ax=fig.subplots())
        fig.savefig(out / "accuracy_vs_step.png", dpi=100)
    except ImportError as err:  # the plot is a convenience; the numbers are already saved
        print(f"no plot: {err}")


def _plain_settings(config: Any) -> dict[str, Any]:
    """A run's settings dataclass as ``config.json`` stores it (tuples as lists, paths as strings)."""
    return {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(config).items()}


def _short(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def print_summary(demo: DemoResult, test_time: float, n_shown: int) -> None:
    """The final numbers, a few right and wrong predictions, and where everything was written."""
    report = demo.report
    c = report.counts()
    m = demo.metrics()
    for correct, title in ((True, "right"), (False, "wrong")):
        rows = examples_table(report, correct, n_shown)
        if rows:
            print(f"\n{title} on the test databases:")
        for r in rows:
            print(f"  [{r['db_id']}] {_short(r['question'], 100)}\n    gold: {_short(r['gold'], 100)}\n"
                  f"    pred: {_short(r['prediction'], 100)}"
                  + ("" if correct or r["valid_sql"] else f"\n    error: {_short(r['error'], 100)}"))
    print(f"\n{report}")
    decoding = report.info.get("decoding", "greedy")
    greedy = demo.greedy_report
    if greedy is not None and greedy is not report:
        g = greedy.summary()["all"]
        print(f"\ngreedy decoding on the same questions: execution accuracy {g['execution_accuracy']:.1%}, "
              f"exact match {g['exact_match']:.1%}, valid SQL {g['valid_sql']:.1%}")
    print(f"\nheld-out test databases ({c['questions']} questions, {decoding} decoding, scored in {test_time:.0f} s): "
          f"execution accuracy {m['execution_accuracy']:.1%}, exact match {m['exact_match']:.1%}, "
          f"valid SQL {m['valid_sql']:.1%}")
    if demo.user_report is not None:
        u, ug = demo.user_report.summary()["all"], demo.user_greedy_report.summary()["all"]
        print(f"questions in people's words about the test databases ({demo.user_report.counts()['questions']}): "
              f"execution accuracy {u['execution_accuracy']:.1%} ({decoding}), {ug['execution_accuracy']:.1%} (greedy); "
              f"valid SQL {u['valid_sql']:.1%}")
    best = "n/a" if demo.best_val_loss is None else (
        f"SQL loss {demo.best_val_loss:.4f}, execution accuracy {demo.best_val_execution_accuracy:.3f}")
    print(f"trained {demo.steps} steps in {demo.train_time_s:.0f} s (best validation: "
          f"{best} at step {demo.best_step}); total wall time {demo.wall_time_s:.0f} s "
          f"({demo.wall_time_s / 60:.1f} min) on {demo.threads} thread(s); outputs in {display_path(demo.out_dir)}")
