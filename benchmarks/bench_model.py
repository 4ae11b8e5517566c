"""Training-step throughput of ``GPTModel`` against a GPT written the textbook way, at the same config.

The reference below is the GPT a first implementation usually looks like: separate query/key/value
linears, an explicit causal mask buffer, softmax and dropout on the full (tokens x tokens) matrix, a
Python GELU and a layer norm written out with mean and variance. It has the same parameters as
``GPTModel`` (the benchmark copies the weights across and checks the logits agree), so the only
difference measured is how the computation is expressed.

One step = forward + cross-entropy + backward + AdamW update. The two models alternate, step by step,
so that load from other processes hits both alike; the median step time of each gives tokens/s.
It runs once without dropout and once with the laptop preset's dropout: on a CPU, PyTorch's fused
attention has no dropout kernel and falls back to the plain computation, so most of the gain there
comes from the dropout-free case.

    python benchmarks/bench_model.py                # laptop-preset shape, batch 8 x 512, dropout 0 and 0.1
    python benchmarks/bench_model.py --steps 20 --seq-len 256 --drop-rates 0
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from t2sql_lib.config import get_preset
from t2sql_lib.model import GPTConfig, GPTModel


class RefLayerNorm(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class RefGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class RefAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.num_heads, self.head_dim, self.d_out = num_heads, d_out // num_heads, d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, t, _ = x.shape
        q = self.W_query(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.W_key(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.W_value(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(2, 3)
        scores.masked_fill_(self.mask.bool()[:t, :t], -torch.inf)
        weights = self.dropout(torch.softmax(scores / k.shape[-1] ** 0.5, dim=-1))
        context = (weights @ v).transpose(1, 2).contiguous().view(b, t, self.d_out)
        return self.out_proj(context)


class RefFeedForward(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(emb_dim, 4 * emb_dim), RefGELU(), nn.Linear(4 * emb_dim, emb_dim))

    def forward(self, x):
        return self.layers(x)


class RefBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.att = RefAttention(cfg.emb_dim, cfg.emb_dim, cfg.context_length, cfg.drop_rate, cfg.n_heads, cfg.qkv_bias)
        self.ff = RefFeedForward(cfg.emb_dim)
        self.norm1 = RefLayerNorm(cfg.emb_dim)
        self.norm2 = RefLayerNorm(cfg.emb_dim)
        self.drop_shortcut = nn.Dropout(cfg.drop_rate)

    def forward(self, x):
        shortcut = x
        x = self.drop_shortcut(self.att(self.norm1(x)))
        x = x + shortcut
        shortcut = x
        x = self.drop_shortcut(self.ff(self.norm2(x)))
        return x + shortcut


class ReferenceGPT(nn.Module):
    """The textbook GPT: same maths and parameters as ``GPTModel``, written without fused kernels."""

    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.Sequential(*[RefBlock(cfg) for _ in range(cfg.n_layers)])
        self.final_norm = RefLayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.out_head.weight = self.tok_emb.weight

    def forward(self, in_idx):
        _, t = in_idx.shape
        x = self.tok_emb(in_idx) + self.pos_emb(torch.arange(t, device=in_idx.device))
        x = self.trf_blocks(self.drop_emb(x))
        return self.out_head(self.final_norm(x))


@torch.no_grad()
def copy_weights(ours: GPTModel, ref: ReferenceGPT) -> None:
    """Give the reference exactly the weights of ``ours`` (split the fused qkv into three linears)."""
    ref.tok_emb.weight.copy_(ours.tok_emb.weight)
    ref.pos_emb.weight.copy_(ours.pos_emb.weight)
    for src, dst in zip(ours.blocks, ref.trf_blocks):
        d = src.att.d_out
        for i, lin in enumerate((dst.att.W_query, dst.att.W_key, dst.att.W_value)):
            lin.weight.copy_(src.att.qkv.weight[i * d:(i + 1) * d])
            if lin.bias is not None:
                lin.bias.copy_(src.att.qkv.bias[i * d:(i + 1) * d])
        dst.att.out_proj.load_state_dict(src.att.out_proj.state_dict())
        dst.ff.layers[0].load_state_dict(src.ff.fc.state_dict())
        dst.ff.layers[2].load_state_dict(src.ff.proj.state_dict())
        for a, b in ((src.norm1, dst.norm1), (src.norm2, dst.norm2), (ours.final_norm, ref.final_norm)):
            b.scale.copy_(a.weight)
            b.shift.copy_(a.bias)
    ref.out_head.weight.copy_(ours.lm_head.weight)


def step_time(model, batch, optimizer) -> float:
    """Seconds for one forward + loss + backward + AdamW step."""
    inputs, targets = batch
    start = time.perf_counter()
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def compare(cfg: GPTConfig, batch_size: int, seq_len: int, steps: int) -> dict[str, float]:
    """Tokens/s of both models at ``cfg``, after checking that they compute the same logits."""
    torch.manual_seed(0)
    ours = GPTModel(cfg)
    ref = ReferenceGPT(cfg)
    copy_weights(ours, ref)
    probe = torch.randint(0, cfg.vocab_size, (2, 32))
    with torch.no_grad():
        diff = (ours.eval()(probe) - ref.eval()(probe)).abs().max().item()
    if diff > 1e-4:
        raise SystemExit(f"reference and GPTModel disagree (max abs diff {diff:.2e}): the comparison is not fair")
    models = {"ours": ours.train(), "ref": ref.train()}
    opts = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    batch = (torch.randint(0, cfg.vocab_size, (batch_size, seq_len)),
             torch.randint(0, cfg.vocab_size, (batch_size, seq_len)))
    times = {"ours": [], "ref": []}
    for i in range(steps + 2):
        for name in ("ref", "ours") if i % 2 else ("ours", "ref"):
            t = step_time(models[name], batch, opts[name])
            if i >= 2:  # the first two steps warm up allocators and AdamW's state
                times[name].append(t)
    return {name: batch_size * seq_len / statistics.median(ts) for name, ts in times.items()}


def main(argv=None) -> None:
    laptop = get_preset("laptop").model
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=laptop.context_length)
    p.add_argument("--emb-dim", type=int, default=laptop.emb_dim)
    p.add_argument("--n-layers", type=int, default=laptop.n_layers)
    p.add_argument("--n-heads", type=int, default=laptop.n_heads)
    p.add_argument("--vocab-size", type=int, default=laptop.vocab_size)
    p.add_argument("--drop-rates", type=float, nargs="+", default=[0.0, laptop.drop_rate],
                   help="one comparison per dropout rate")
    p.add_argument("--steps", type=int, default=8, help="timed steps per model (after 2 warm-up steps)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"batch {args.batch_size} x {args.seq_len} tokens, emb_dim {args.emb_dim}, {args.n_layers} layers, "
          f"{args.n_heads} heads, vocab {args.vocab_size}; {args.steps} timed steps each, "
          f"{torch.get_num_threads()} threads; logits checked equal (< 1e-4) first")
    for drop_rate in args.drop_rates:
        cfg = GPTConfig(vocab_size=args.vocab_size, context_length=max(args.seq_len, laptop.context_length),
                        emb_dim=args.emb_dim, n_heads=args.n_heads, n_layers=args.n_layers, drop_rate=drop_rate,
                        qkv_bias=laptop.qkv_bias, tie_weights=laptop.tie_weights)
        rate = compare(cfg, args.batch_size, args.seq_len, args.steps)
        print(f"dropout {drop_rate:.2f}: reference GPT (textbook) {rate['ref']:8.0f} tokens/s | "
              f"GPTModel {rate['ours']:8.0f} tokens/s | speed-up {rate['ours'] / rate['ref']:.2f}x")


if __name__ == "__main__":
    main()
