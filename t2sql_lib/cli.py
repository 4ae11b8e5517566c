"""The ``t2sql`` command line."""

from __future__ import annotations

import argparse
import sys


def _cmd_presets(args: argparse.Namespace) -> int:
    from .config import PRESETS, get_preset

    chosen = get_preset().name
    for name, preset in PRESETS.items():
        m = preset.model
        mark = "*" if name == chosen else " "
        print(f"{mark} {name:<8} {m.n_layers} layers x {m.emb_dim} d_model, context {m.context_length}: "
              f"{preset.description}")
    if args.save:
        path = get_preset(args.save_name).save(args.save)
        print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    print("t2sql demo: not yet available. The end-to-end CPU training demo arrives with the training "
          "engine (chapters 4-5); until then, run the course notebooks with `jupyter lab chapters/`.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t2sql", description="text2sql-from-scratch command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list the model/training presets (* marks the one in use)")
    p.add_argument("--save", metavar="PATH", help="write the preset in use (or --name) to a YAML/JSON file")
    p.add_argument("--name", dest="save_name", default=None, help="preset to save with --save")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("demo", help="train and evaluate a text-to-SQL model end to end on the CPU")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"t2sql {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
