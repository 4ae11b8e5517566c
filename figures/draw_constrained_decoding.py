"""Draw schema-constrained decoding (a token-level mask over the next-token scores) as figures/constrained_decoding.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "constrained_decoding.png"

SCHEMA = "farms(farm_id, name, area)\ncrops(crop_id, farm_id, crop)"
WRITTEN = " SELECT name FROM"
# candidate next tokens: (text, model probability, allowed by the schema at a table slot)
CANDIDATES = [
    (" singer", 0.31, False),
    (" farms", 0.22, True),
    (" loans", 0.17, False),
    (" crops", 0.12, True),
    (" WHERE", 0.10, False),
    (" fa", 0.05, True),
    (" (", 0.03, True),
]


def box(ax, x, y, w, h, text, fc, fontsize=9, family=None, ec="#333333"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04", fc=fc, ec=ec, lw=1.1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, family=family)


def arrow(ax, a, b, colour="#333333"):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, lw=1.2, color=colour))


def main() -> Path:
    fig, ax = plt.subplots(figsize=(11.5, 5.2))
    # 1. the prompt's schema and the SQL written so far
    box(ax, 0.1, 3.95, 4.5, 0.8, f"schema in the prompt:\n{SCHEMA}", "#e8eef7", fontsize=8.5)
    box(ax, 0.1, 3.0, 4.5, 0.65, f"SQL so far: \"{WRITTEN}\"\n→ a table name comes next", "#fdf1dc", fontsize=8.5)
    ax.text(0.15, 2.55, "the SQL lexer's state:\nslot = table, word = \"\"\nallowed words: farms, crops",
            fontsize=8.5, va="top", family="monospace")
    arrow(ax, (4.75, 3.33), (5.3, 3.33))
    # 2. the model's next-token probabilities, before and after the mask
    x0, w_bar = 6.4, 2.0
    ax.text(x0 + 0.9, 4.85, "model's next token", ha="center", fontsize=9, weight="bold")
    ax.text(x0 + 3.45, 4.85, "after the schema mask", ha="center", fontsize=9, weight="bold")
    allowed_mass = sum(p for _, p, ok in CANDIDATES if ok)
    for i, (text, p, ok) in enumerate(CANDIDATES):
        y = 4.35 - i * 0.55
        ax.text(x0 - 0.05, y + 0.12, repr(text), ha="right", va="center", fontsize=8.5, family="monospace")
        ax.add_patch(plt.Rectangle((x0, y), w_bar * p / 0.35, 0.25, fc="#9db4d6", ec="none"))
        ax.text(x0 + w_bar * p / 0.35 + 0.05, y + 0.12, f"{p:.2f}", va="center", fontsize=8)
        x1 = x0 + 2.6
        if ok:
            q = p / allowed_mass
            ax.add_patch(plt.Rectangle((x1, y), w_bar * q / 0.5, 0.25, fc="#7fbf7f", ec="none"))
            ax.text(x1 + w_bar * q / 0.5 + 0.05, y + 0.12, f"{q:.2f}", va="center", fontsize=8)
        else:
            ax.text(x1 + 0.05, y + 0.12, "-inf  (masked: not in the schema)" if text.strip() != "WHERE"
                    else "-inf  (masked: no table yet)", va="center", fontsize=8, color="#b03030")
    ax.text(x0 + 1.3, 0.25, "the mask sets forbidden logits to -inf; softmax renormalises the rest,\n"
            "then greedy, sampling or beam search choose as usual (\" fa\" stays: it starts \"farms\")",
            ha="center", fontsize=8.5, color="#444444")
    ax.set_xlim(0, 11.6)
    ax.set_ylim(0, 5.1)
    ax.axis("off")
    ax.set_title("Schema-constrained decoding: only names of the prompt's schema where SQL expects a name", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
