"""Training throughput (tokens/s) and peak memory of the training engine on the CPU, tiny and laptop presets.

Each preset runs in its own process, so that its peak resident memory (``ru_maxrss``) is its own. In
that process the same model and data are trained twice from the same weights: first by a bare loop
(forward, summed cross-entropy, backward, AdamW step; nothing else), then by ``t2sql_lib.train.train``
with the preset's settings (token counting, gradient clipping, the schedule, CSV logging...), the two
alternating ``--rounds`` times. The best median step time of each, after ``--warmup`` steps, gives
tokens/s, and their ratio is what the engine's bookkeeping costs. Evaluation and checkpoints are off;
the data is ``synthetic_token_stream``.

    python benchmarks/bench_train_throughput.py                     # tiny and laptop, default steps
    python benchmarks/bench_train_throughput.py --presets laptop --steps 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

DEFAULT_STEPS = {"tiny": 20, "laptop": 6}


def _rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def measure(preset_name: str, steps: int, warmup: int, rounds: int) -> dict:
    """Run in a child process: the bare loop and the engine, alternately; return timings and memory."""
    from t2sql_lib import train as tr
    from t2sql_lib import train_cli
    from t2sql_lib.config import load_preset
    from t2sql_lib.lm_data import SlidingWindowDataset
    from t2sql_lib.model import GPTModel, estimate_training_memory

    preset = load_preset(preset_name)
    cfg = preset.model
    settings = dataclasses.replace(preset.train, max_steps=steps, eval_every=0, grad_accum_steps=1)
    seq = cfg.context_length
    tokens = train_cli.synthetic_token_stream((steps + 1) * settings.batch_size * (seq + 1) + 1, cfg.vocab_size)
    data = SlidingWindowDataset(tokens, seq)
    torch.manual_seed(0)
    model = GPTModel(cfg)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    rss_before = _rss_mib()

    def bare_loop() -> list[float]:
        """What any training of this model must do; returns the step times."""
        model.load_state_dict(start)
        opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
        times, batches = [], iter(tr.make_loader(data, settings.batch_size, seed=settings.seed))
        for _ in range(steps):
            t0 = time.perf_counter()  # like the engine's step time, this includes fetching the batch
            x, y = next(batches)
            loss = tr.lm_loss_sum(model(x), y) / y.numel()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        return times

    def engine() -> tuple[list[float], float]:
        """The same steps through ``train``; returns the step times (from its CSV log) and the last loss."""
        model.load_state_dict(start)
        with tempfile.TemporaryDirectory() as out:
            options = tr.RunOptions(out_dir=out, device="cpu", progress=False, verbose=False)
            result = tr.train(model, data, settings, options=options)
            rows = tr.read_csv_log(f"{out}/{tr.TRAIN_LOG}")
        return [settings.batch_size * seq / r["tokens_per_s"] for r in rows], result.losses[-1]

    # Alternate the two, `rounds` times, and keep each one's best median: other processes' load then
    # slows both alike instead of whichever happened to run during it.
    bare_medians, engine_medians = [], []
    for _ in range(rounds):
        bare_medians.append(statistics.median(bare_loop()[warmup:]))
        times, final_loss = engine()
        engine_medians.append(statistics.median(times[warmup:]))
    step_tokens = settings.batch_size * seq
    estimate = estimate_training_memory(cfg, settings.batch_size, seq)["total"] / 2**20
    return {
        "preset": preset_name, "params_m": model.num_parameters() / 1e6, "batch": settings.batch_size, "seq": seq,
        "drop_rate": cfg.drop_rate, "steps": steps, "threads": torch.get_num_threads(),
        "bare_tok_s": step_tokens / min(bare_medians), "engine_tok_s": step_tokens / min(engine_medians),
        "final_loss": final_loss, "rss_before_mib": rss_before, "peak_rss_mib": _rss_mib(),
        "estimate_mib": estimate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "laptop"])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: tiny 20, laptop 6)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    parser.add_argument("--rounds", type=int, default=2, help="bare/engine alternations (best median kept)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.warmup, args.rounds)))
        return

    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; median step time after "
          f"{args.warmup} warm-up steps; peak RSS of a process that trains the preset")
    header = (f"{'preset':<8} {'params':>7} {'batch x seq':>12} {'drop':>5} {'bare tok/s':>11} "
              f"{'engine tok/s':>13} {'engine/bare':>12} {'peak RSS':>9} {'model+data':>11} {'estimate':>9}")
    print(header)
    print("-" * len(header))
    for name in args.presets:
        steps = args.steps or DEFAULT_STEPS.get(name, 10)
        cmd = [sys.executable, __file__, "--child", name, "--steps", str(steps), "--warmup", str(args.warmup),
               "--rounds", str(args.rounds)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{r['preset']:<8} {r['params_m']:>6.2f}M {r['batch']:>5} x {r['seq']:<5} {r['drop_rate']:>5.2f} "
              f"{r['bare_tok_s']:>11,.0f} {r['engine_tok_s']:>13,.0f} {r['engine_tok_s'] / r['bare_tok_s']:>11.2f}x "
              f"{r['peak_rss_mib']:>6.0f}MiB {r['rss_before_mib']:>8.0f}MiB {r['estimate_mib']:>6.0f}MiB")
    print("peak RSS: the whole process (Python, torch, data, both runs); model+data: RSS before training; "
          "estimate: t2sql_lib.model.estimate_training_memory (parameters, gradients, AdamW state, activations)")


if __name__ == "__main__":
    main()
