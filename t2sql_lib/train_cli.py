"""``t2sql train``: pretrain a GPT with chapter 4's engine from the command line, or run chapter 8's pipeline.

``python -m t2sql_lib.train_cli --config tiny`` (or ``t2sql train --config tiny``) pretrains a GPT on the generated
dataset's text with ``t2sql_lib.train.train``; ``--data synthetic`` uses a deterministic token stream
(``synthetic_token_stream``), which needs no data files. ``--task sft`` runs chapter 8's text-to-SQL pipeline
instead (``t2sql_lib.pipeline``): fine-tuning on the generated data, WikiSQL and/or Spider, then scoring with
several decoders. Under ``torchrun`` each process runs one copy:
``torchrun --nproc_per_node=N -m t2sql_lib.train_cli --task sft --config gpu ...`` is the multi-GPU form.

The language-model task lives here too: ``build_lm_data`` turns a preset into token-stream datasets, encoded by
``load_text_tokenizer`` (UTF-8 bytes, chapter 1's BPE, GPT-2's, or a saved tokenizer).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .config import Preset
from .distributed import cleanup_distributed, setup_distributed
from .lm_data import SlidingWindowDataset
from .paths import outputs_dir
from .train import RunOptions, TrainTask, train


def synthetic_token_stream(n_tokens: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """A deterministic stream of runs ``s, s+d, s+2d, ...`` (mod vocab) of random start, stride and length.

    Learnable (after two tokens of a run the next one is certain), so a loss that falls shows the loop
    works; independent of any tokenizer, so tests and the DDP check need no data files.
    """
    g = torch.Generator().manual_seed(seed)
    n_runs = n_tokens // 8 + 1  # runs average 20 tokens, so this is plenty; the stream is cut below
    lengths = torch.randint(8, 33, (n_runs,), generator=g)
    starts = torch.randint(0, vocab_size, (n_runs,), generator=g)
    strides = torch.randint(1, 4, (n_runs,), generator=g)
    run = torch.repeat_interleave(torch.arange(n_runs), lengths)  # run id of every token
    offset = torch.arange(len(run)) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    return ((starts[run] + strides[run] * offset) % vocab_size)[:n_tokens]


def byte_tokenizer_json() -> str:
    """The description stored with a model trained on raw UTF-8 bytes (ids 0-255)."""
    return json.dumps({"type": "bytes", "vocab_size": 256})


def load_text_tokenizer(spec: str = "bytes", train_texts: Sequence[str] | None = None, vocab_size: int = 4096
                        ) -> tuple[Callable[[str], torch.Tensor], int, str]:
    """``(encode, n_vocab, tokenizer JSON)`` for ``spec``.

    ``bytes``: UTF-8 bytes (ids 0-255). With chapter 1's ``t2sql_lib.tokenizer``: ``bpe`` trains a
    ``BPETokenizer`` of ``vocab_size`` ids on ``train_texts`` (deterministic, seconds at course sizes);
    ``gpt2`` is GPT-2's; anything else is the path of a tokenizer that ``BPETokenizer.save`` wrote.
    """
    if spec == "bytes":
        return (lambda text: torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long(),
                256, byte_tokenizer_json())
    try:
        from .tokenizer import BPETokenizer, load_tokenizer
    except ImportError as err:
        raise ValueError(f"tokenizer {spec!r}: needs chapter 1's t2sql_lib.tokenizer ({err})") from err
    if spec == "bpe":
        if not train_texts:
            raise ValueError("tokenizer 'bpe' needs texts to train on")
        tok = BPETokenizer.train(train_texts, vocab_size=vocab_size)
    else:
        tok = load_tokenizer(spec)
    described = tok.to_dict() if hasattr(tok, "to_dict") else {"type": "tiktoken", "name": str(spec)}
    return (lambda text: torch.tensor(tok.encode(text, allowed_special="all"), dtype=torch.long),
            tok.n_vocab, json.dumps(described, ensure_ascii=False))


def default_tokenizer_spec() -> str:
    """``bpe`` once chapter 1's tokenizer is in the library, ``bytes`` before."""
    import importlib

    try:
        importlib.import_module("t2sql_lib.tokenizer")
    except ImportError:
        return "bytes"
    return "bpe"


def build_lm_data(preset: Preset, data: str = "synth", seq_len: int | None = None, synthetic_tokens: int = 1 << 18,
                  tokenizer: str = "auto") -> tuple[Dataset, Dataset, str | None]:
    """``(train, validation, tokenizer JSON)`` token-stream datasets for pretraining.

    ``synthetic``: ``synthetic_token_stream`` (90% train, 10% validation). ``synth``: the generated
    dataset's training examples as prompt + SQL text (``t2sql_lib.prompts.build_example_text``), the
    validation split's for validation, encoded by ``load_text_tokenizer(tokenizer)``; ``auto`` is a
    BPE tokenizer of ``data.tokenizer_vocab_size`` ids trained on the training texts (bytes before
    chapter 1 is exported).
    """
    seq_len = seq_len or preset.model.context_length
    if data == "synthetic":
        tokens = synthetic_token_stream(synthetic_tokens, preset.model.vocab_size, seed=preset.train.seed)
        cut = int(len(tokens) * 0.9)
        return SlidingWindowDataset(tokens[:cut], seq_len), SlidingWindowDataset(tokens[cut:], seq_len), None
    if data != "synth":
        raise ValueError(f"--data {data!r}: expected 'synth' or 'synthetic'")
    from .prompts import build_example_text
    from .synth import load_generated

    splits = load_generated(n_examples=preset.data.n_synth_examples, splits=("train", "validation"))
    # one example after another: build_example_text ends each with <|endoftext|>, the separator
    texts = {name: [build_example_text(ex) for ex in examples] for name, examples in splits.items()}
    spec = default_tokenizer_spec() if tokenizer == "auto" else tokenizer
    encode, n_vocab, tokenizer_json = load_text_tokenizer(spec, texts["train"], preset.data.tokenizer_vocab_size)
    if n_vocab > preset.model.vocab_size:
        raise ValueError(f"the tokenizer has {n_vocab} ids but model.vocab_size is {preset.model.vocab_size}")
    return (SlidingWindowDataset(encode("".join(texts["train"])), seq_len),
            SlidingWindowDataset(encode("".join(texts["validation"])), seq_len), tokenizer_json)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``t2sql train`` / ``python -m t2sql_lib.train_cli``."""
    p.add_argument("--config", default=None, metavar="YAML|PRESET",
                   help="a preset name (tiny, laptop, gpu-t4, gpu) or a YAML/JSON file (default: chosen from the "
                        "hardware, or $T2SQL_PRESET)")
    p.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="settings to change, e.g. train.max_steps=100 model.n_layers=2")
    p.add_argument("--task", choices=("lm", "sft"), default="lm",
                   help="lm: pretrain a language model (default); sft: chapter 8's text-to-SQL pipeline "
                        "(fine-tune, then score every test set with several decoders and save the model)")
    p.add_argument("--data", default="synth", metavar="NAME[,NAME...]",
                   help="--task lm: synth (the generated dataset's text) or synthetic (a deterministic token "
                        "stream); --task sft: synth, wikisql, spider, or several mixed (synth,wikisql)")
    p.add_argument("--eval-data", default=None, metavar="NAME[,NAME...]",
                   help="--task sft: test sets to score (default: those of --data)")
    p.add_argument("--init", default="scratch", metavar="scratch|gpt2|gpt2-medium|FILE",
                   help="--task sft: random weights at the preset's shape, or GPT-2 weights (124M, 355M, a file)")
    p.add_argument("--spider-dir", default=None, metavar="DIR",
                   help="--task sft: a Spider folder (default: $T2SQL_SPIDER_DIR, data/raw/spider, ...)")
    p.add_argument("--wikisql-dir", default=None, metavar="DIR",
                   help="--task sft: a folder in WikiSQL's format (default: the official release, downloaded once)")
    p.add_argument("--decoders", default=",".join(("greedy", "constrained", "execution_guided")),
                   metavar="NAME[,NAME...]", help="--task sft: decoders scored on every test set")
    p.add_argument("--test-examples", default="200", metavar="N|all",
                   help="--task sft: questions scored per test set (default: 200, a seeded sample)")
    p.add_argument("--val-examples", type=int, default=50,
                   help="--task sft: validation questions decoded at each evaluation (default: 50; 0: none)")
    p.add_argument("--tokenizer", default="auto", metavar="auto|bpe|bytes|gpt2|FILE",
                   help="--data synth: a BPE tokenizer trained on the training text (auto, bpe), UTF-8 bytes, "
                        "GPT-2's, or a saved chapter-1 tokenizer file; --task sft: auto (GPT-2's with GPT-2 "
                        "weights, else bpe), bpe or gpt2")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (default: outputs/runs/<preset>; --task sft: outputs/pipeline/<preset>, "
                        "outputs/demo for the demo preset)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's latest checkpoint (its newest complete one when LATEST is damaged; "
                        "a fresh start when the folder holds no trace of a run, an error when it holds no "
                        "complete checkpoint)")
    p.add_argument("--resume-from", default=None, metavar="CKPT", help="continue from this checkpoint folder")
    p.add_argument("--stop-at-step", type=int, default=None, help="stop (with a checkpoint) after this step")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens per training sequence (default: model.context_length)")
    p.add_argument("--synthetic-tokens", type=int, default=1 << 18, help="length of the --data synthetic stream")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: a GPU when there is one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train_command(args: argparse.Namespace) -> int:
    """Build the preset, model and data that ``args`` describe, train, and print a summary."""
    from .config import get_preset
    from .model import GPTConfig, GPTModel

    if args.task == "sft":
        from .pipeline import run_sft_command

        return run_sft_command(args)
    if args.data not in ("synth", "synthetic"):
        raise ValueError(f"--data {args.data!r}: --task lm takes 'synth' or 'synthetic' (wikisql and spider "
                         "are for --task sft)")
    preset = get_preset(args.config).with_overrides(list(args.overrides))
    env = setup_distributed(device=args.device)
    try:
        train_data, val_data, tokenizer = build_lm_data(preset, args.data, args.seq_len, args.synthetic_tokens,
                                                       args.tokenizer)
        torch.manual_seed(preset.train.seed)  # the same initial weights on every rank (DDP also broadcasts them)
        model = GPTModel(GPTConfig(**dataclasses.asdict(preset.model)))
        out = Path(args.out) if args.out else outputs_dir() / "runs" / preset.name
        if env.is_main:
            print(f"preset {preset.name}: {model.num_parameters() / 1e6:.2f}M parameters, {len(train_data)} "
                  f"training sequences, {env.world_size} process(es) on {env.device}, run folder {out}")
        options = RunOptions(out_dir=out, resume_from=args.resume_from or args.resume or None,
                             stop_at_step=args.stop_at_step, config=preset.to_dict(), tokenizer=tokenizer, env=env,
                             progress=not args.no_progress)
        result = train(model, train_data, preset.train, TrainTask(val_data=val_data), options)
        if env.is_main:
            best = f", best {preset.train.early_stopping_metric} {result.best_metric:.4f} at step " \
                   f"{result.best_step}" if result.best_metric is not None else ""
            final = f"final loss {result.losses[-1]:.4f}, " if result.losses else ""
            print(f"step {result.step}: {final}{result.tokens_per_s:,.0f} tokens/s ({result.precision})"
                  f"{best}; metrics in {out}")
    finally:
        cleanup_distributed()
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to the ``t2sql`` command line's subparsers."""
    p = subparsers.add_parser("train", help="train a GPT: t2sql train --config tiny [section.key=value ...]")
    add_train_arguments(p)
    p.set_defaults(func=run_train_command)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m t2sql_lib.train_cli`` (also under ``torchrun``)."""
    parser = argparse.ArgumentParser(prog="python -m t2sql_lib.train_cli", description=__doc__.split("\n")[0])
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_train_command(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
