"""Naive masked attention vs scaled_dot_product_attention: forward + backward time at several sequence lengths.

Both layers share the same weights (``t2sql_lib.attention``); timings are interleaved in one run and printed
with the SDPA speed-up as a ratio. Example::

    python benchmarks/bench_attention.py                       # CPU, lengths 64 256 1024
    python benchmarks/bench_attention.py --device cuda --d-model 768 --heads 12 --batch 8 --lengths 256 1024 4096
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from t2sql_lib.attention import MultiHeadAttention, NaiveMultiHeadAttention


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_backward_seconds(layer: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> float:
    """Wall time of one forward and backward pass (the device is synchronised before and after)."""
    _sync(x.device)
    start = time.perf_counter()
    layer(x).backward(grad)
    _sync(x.device)
    return time.perf_counter() - start


def bench_length(naive, sdpa, tokens, args, device, dtype) -> tuple[float, float]:
    """Median seconds (naive, sdpa) at one length; the two layers alternate so that noise hits both alike."""
    x = torch.randn(args.batch, tokens, args.d_model, device=device, dtype=dtype, requires_grad=True)
    grad = torch.randn_like(x)
    for _ in range(args.warmup):
        forward_backward_seconds(naive, x, grad)
        forward_backward_seconds(sdpa, x, grad)
    naive_times, sdpa_times = [], []
    for _ in range(args.repeats):
        naive_times.append(forward_backward_seconds(naive, x, grad))
        sdpa_times.append(forward_backward_seconds(sdpa, x, grad))
    return statistics.median(naive_times), statistics.median(sdpa_times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on the CPU")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    torch.manual_seed(0)
    context = max(args.lengths)
    naive = NaiveMultiHeadAttention(args.d_model, args.d_model, context, 0.0, args.heads).to(device, dtype)
    sdpa = MultiHeadAttention(args.d_model, args.d_model, context, 0.0, args.heads).to(device, dtype)
    sdpa.load_state_dict(naive.state_dict())

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"forward+backward, batch={args.batch}, d_model={args.d_model}, heads={args.heads}, {args.dtype}, "
          f"{where}, torch {torch.__version__}; median of {args.repeats}")
    print(f"{'tokens':>7} {'naive ms':>10} {'sdpa ms':>10} {'sdpa speedup':>13}")
    for tokens in args.lengths:
        t_naive, t_sdpa = bench_length(naive, sdpa, tokens, args, device, dtype)
        print(f"{tokens:>7} {t_naive * 1e3:>10.2f} {t_sdpa * 1e3:>10.2f} {t_naive / t_sdpa:>12.2f}x")


if __name__ == "__main__":
    main()
