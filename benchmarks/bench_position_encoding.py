"""Learned position embeddings (GPT-2) vs RoPE: how many training steps until a GPT can copy.

The task needs nothing but copying: a random prefix of random length (so that the copy sits at many positions),
then random tokens, then the same tokens again; the loss is on the repeat. Two models of one shape (the demo's,
4 layers x 128 by default) start from the same weights for every parameter they share (RoPE has no position
table), see the same batches, and train with the same AdamW settings. Every ``--report-every`` steps the script
prints the copy accuracy of each on the batch it just trained on, then the first step at which each reached
``--target``, and their ratio. Example::

    python benchmarks/bench_position_encoding.py                 # 300 steps, the demo's shape, 1 thread
    python benchmarks/bench_position_encoding.py --steps 600 --layers 2 --d-model 64

Why it matters: text-to-SQL on a database the model has never seen means copying its table and column names
(and the question's values) from the prompt, token after token (the demo's error analysis in RESULTS.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
import torch.nn.functional as F

from t2sql_lib.model import GPTConfig, GPTModel


def copy_batch(g: torch.Generator, vocab: int, batch: int, copy_len: int, max_prefix: int) -> tuple[torch.Tensor, int]:
    """(batch, prefix + 2 * copy_len) ids whose last ``copy_len`` repeat the ``copy_len`` before; the prefix length."""
    prefix = int(torch.randint(0, max_prefix + 1, (1,), generator=g))
    first = torch.randint(0, vocab, (batch, copy_len), generator=g)
    noise = torch.randint(0, vocab, (batch, prefix), generator=g)
    return torch.cat([noise, first, first], dim=1), prefix


def build_pair(args: argparse.Namespace) -> dict[str, GPTModel]:
    """The learned-position and RoPE models, with the same initial weights where they share parameters."""
    cfg = GPTConfig(vocab_size=args.vocab, context_length=args.context, emb_dim=args.d_model, n_heads=args.heads,
                    n_layers=args.layers, drop_rate=0.0)
    torch.manual_seed(args.seed)
    learned = GPTModel(cfg)
    rope = GPTModel(dataclasses.replace(cfg, pos_encoding="rope"))
    missing, unexpected = rope.load_state_dict(learned.state_dict(), strict=False)
    assert not missing and unexpected == ["pos_emb.weight"], (missing, unexpected)
    return {"learned": learned, "rope": rope}


def train_copy(model: GPTModel, args: argparse.Namespace) -> list[tuple[int, float, float]]:
    """(step, loss, copy accuracy) every ``report_every`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    g = torch.Generator().manual_seed(args.seed + 1)  # the same batches for both models
    rows = []
    for step in range(1, args.steps + 1):
        seq, prefix = copy_batch(g, args.vocab, args.batch, args.copy_len, args.max_prefix)
        logits = model(seq[:, :-1])  # (batch, tokens - 1, vocab)
        targets = seq[:, 1:].clone()
        start = prefix + args.copy_len - 1  # targets from here on are the repeat
        targets[:, :start] = -100
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.report_every == 0:
            accuracy = (logits[:, start:].argmax(-1) == seq[:, start + 1:]).float().mean().item()
            rows.append((step, loss.item(), accuracy))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--report-every", type=int, default=25)
    p.add_argument("--target", type=float, default=0.9, help="copy accuracy that counts as learned")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--copy-len", type=int, default=64)
    p.add_argument("--max-prefix", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.max_prefix + 2 * args.copy_len > args.context:
        p.error(f"--max-prefix {args.max_prefix} + 2 x --copy-len {args.copy_len} exceeds --context {args.context}")

    models = build_pair(args)
    print(f"copy task: {args.layers} layers x {args.d_model}, vocab {args.vocab}, batch {args.batch}, copy "
          f"{args.copy_len} tokens after a prefix of 0-{args.max_prefix}, {args.steps} steps, lr {args.lr}")
    curves, seconds = {}, {}
    for name, model in models.items():
        t0 = time.perf_counter()
        curves[name] = train_copy(model, args)
        seconds[name] = time.perf_counter() - t0
    print(f"\n{'step':>6} | {'learned loss':>12} {'copy acc':>8} | {'rope loss':>9} {'copy acc':>8}")
    for (step, l_loss, l_acc), (_, r_loss, r_acc) in zip(curves["learned"], curves["rope"]):
        print(f"{step:>6} | {l_loss:>12.3f} {l_acc:>8.1%} | {r_loss:>9.3f} {r_acc:>8.1%}")
    first = {name: next((s for s, _, a in rows if a >= args.target), None) for name, rows in curves.items()}
    print()
    for name in curves:
        reached = f"step {first[name]}" if first[name] else f"not within {args.steps} steps"
        print(f"{name:<8} reached {args.target:.0%} copy accuracy at {reached} ({seconds[name]:.0f} s of training)")
    if first["rope"] and first["learned"]:
        print(f"RoPE needed {first['learned'] / first['rope']:.1f}x fewer steps")
    elif first["rope"]:
        print(f"RoPE needed at most {args.steps / first['rope']:.1f}x fewer steps (learned positions never got there)")


if __name__ == "__main__":
    main()
