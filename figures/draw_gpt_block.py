"""Draw the GPT of chapter 3 (embeddings, one pre-norm transformer block repeated, output layer) as figures/gpt_block.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "gpt_block.png"

COLOURS = {
    "embed": "#c6dbef",
    "norm": "#fdd0a2",
    "attn": "#9ecae1",
    "ff": "#a1d99b",
    "drop": "#eeeeee",
    "head": "#dadaeb",
    "add": "#ffffff",
}
X = 3.0  # centre line of the main path
W = 3.2  # box width


def box(ax, y, text, kind, width=W, height=0.55):
    """A rounded box centred on (X, y)."""
    ax.add_patch(FancyBboxPatch((X - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02,rounding_size=0.12",
                                fc=COLOURS[kind], ec="#444444", lw=1.1, zorder=2))
    ax.text(X, y, text, ha="center", va="center", fontsize=9, zorder=3)


def plus(ax, y):
    """The residual addition."""
    ax.add_patch(plt.Circle((X, y), 0.2, fc="white", ec="#444444", lw=1.1, zorder=2))
    ax.text(X, y, "+", ha="center", va="center", fontsize=13, zorder=3)


def arrow(ax, x0, y0, x1, y1, colour="#444444", style="-|>", rad=0.0):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=11, color=colour, lw=1.1,
                                 connectionstyle=f"arc3,rad={rad}", zorder=1))


def skip(ax, y_from, y_to, x_side):
    """A residual connection: leaves the main path at y_from, runs beside it, joins the + at y_to."""
    ax.plot([X, x_side, x_side], [y_from, y_from, y_to], color="#d62728", lw=1.4, zorder=1)
    ax.text(x_side + 0.12, (y_from + y_to) / 2, "residual", rotation=90, ha="center", va="center", fontsize=8,
            color="#d62728")
    arrow(ax, x_side, y_to, X + 0.2, y_to, colour="#d62728")


def main() -> None:
    fig, ax = plt.subplots(figsize=(7.0, 9.6))
    # bottom to top, the way the data flows
    ys = {}
    steps = [
        ("ids", "token ids  (batch, tokens)", "embed"),
        ("emb", "token embedding + position embedding", "embed"),
        ("drop0", "dropout", "drop"),
        ("norm1", "LayerNorm", "norm"),
        ("att", "causal multi-head attention\n(fused qkv, SDPA)", "attn"),
        ("drop1", "dropout", "drop"),
        ("add1", "+", "add"),
        ("norm2", "LayerNorm", "norm"),
        ("ff", "feed-forward\nLinear d→4d, GELU, Linear 4d→d", "ff"),
        ("drop2", "dropout", "drop"),
        ("add2", "+", "add"),
        ("normf", "final LayerNorm", "norm"),
        ("head", "output layer  Linear d→vocab\n(optionally tied to the token embedding)", "head"),
        ("logits", "logits  (batch, tokens, vocab)", "head"),
    ]
    y = 0.5
    for key, _, _ in steps:
        ys[key] = y
        y += 0.8
    for i, (key, text, kind) in enumerate(steps):
        if kind == "add":
            plus(ax, ys[key])
        else:
            box(ax, ys[key], text, kind, height=0.62 if "\n" in text else 0.5)
        if i:
            prev = steps[i - 1][0]
            top = ys[prev] + (0.2 if prev.startswith("add") else (0.31 if "\n" in steps[i - 1][1] else 0.25))
            bottom = ys[key] - (0.2 if kind == "add" else (0.31 if "\n" in text else 0.25))
            arrow(ax, X, top, X, bottom)

    # the two residual connections of the block
    skip(ax, (ys["drop0"] + ys["norm1"]) / 2, ys["add1"], X + W / 2 + 0.35)
    skip(ax, (ys["add1"] + ys["norm2"]) / 2, ys["add2"], X + W / 2 + 0.35)

    # the repeated block
    top, bottom = ys["add2"] + 0.4, (ys["drop0"] + ys["norm1"]) / 2 - 0.15
    ax.add_patch(FancyBboxPatch((X - W / 2 - 0.45, bottom), W + 1.5, top - bottom, boxstyle="round,pad=0.02,rounding_size=0.2",
                                fc="none", ec="#555555", lw=1.2, ls="--", zorder=0))
    ax.text(X - W / 2 - 0.6, (top + bottom) / 2, "transformer block\n× n_layers", ha="right", va="center", fontsize=10,
            fontweight="bold")
    ax.text(X - W / 2 - 0.6, (top + bottom) / 2 - 0.8, "in and out:\n(batch, tokens, d)", ha="right", va="center",
            fontsize=8, color="#555555")

    ax.set_xlim(-1.2, 6.6)
    ax.set_ylim(0, ys["logits"] + 0.6)
    ax.axis("off")
    ax.set_title("GPT: pre-norm transformer blocks on a residual stream", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
