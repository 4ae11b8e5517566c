"""Draw causal self-attention and the multi-head split of one fused QKV projection as figures/attention.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

OUT = Path(__file__).resolve().parent / "attention.png"

TOKENS = ["SELECT", "name", "FROM", "singer", "WHERE", "age"]
HEAD_COLOURS = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc"]


def draw_causal_grid(ax) -> None:
    """Left panel: which key each query may look at; the future is masked before the softmax."""
    n = len(TOKENS)
    for row in range(n):
        visible = row + 1
        for col in range(n):
            if col <= row:
                # the softmax spreads each row's weight over the visible tokens; shade by 1/visible
                shade = 0.25 + 0.75 / visible
                ax.add_patch(Rectangle((col, n - 1 - row), 1, 1, fc=(0.13, 0.4, 0.7, shade), ec="white", lw=1.5))
            else:
                ax.add_patch(Rectangle((col, n - 1 - row), 1, 1, fc="#e6e6e6", ec="white", lw=1.5))
                ax.text(col + 0.5, n - 0.5 - row, "−∞", ha="center", va="center", fontsize=8, color="#888888")
    ax.set_xlim(0, n)
    ax.set_ylim(0, n)
    ax.set_xticks([i + 0.5 for i in range(n)], TOKENS, rotation=45, ha="right", fontsize=8)
    ax.set_yticks([n - 0.5 - i for i in range(n)], TOKENS, fontsize=8)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.tick_params(length=0)
    ax.set_xlabel("keys: the tokens being looked at", fontsize=9)
    ax.set_ylabel("queries: the token doing the looking", fontsize=9)
    ax.set_title("(a) causal mask: each row sees itself and the past", fontsize=9.5, pad=10)
    ax.text(n / 2, -0.2, "grey scores are set to −∞ before the softmax, so they get weight 0",
            ha="center", va="top", fontsize=8.5)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_aspect("equal")


def segment(ax, x, y, width, height, colour, label="", fontsize=8):
    ax.add_patch(Rectangle((x, y), width, height, fc=colour, ec="#333333", lw=1.0))
    if label:
        ax.text(x + width / 2, y + height / 2, label, ha="center", va="center", fontsize=fontsize)


def draw_head_split(ax, num_heads: int = 4) -> None:
    """Right panel: one Linear makes [q | k | v]; each of q, k, v is cut into num_heads slices."""
    part = 3.0  # width of q, k or v
    head_w = part / num_heads
    y_top = 4.2
    segment(ax, 0.0, 5.6, 9.0, 0.6, "#f2f2f2", "x: one token, d_in features")
    ax.add_patch(FancyArrowPatch((4.5, 5.55), (4.5, 4.95), arrowstyle="-|>", mutation_scale=12, lw=1.1))
    ax.text(4.65, 5.25, "qkv = nn.Linear(d_in, 3·d_out)", fontsize=8, va="center")
    for p, name in enumerate(("q", "k", "v")):
        for h in range(num_heads):
            segment(ax, p * part + h * head_w, y_top, head_w, 0.6, HEAD_COLOURS[h], f"{name}{h}", fontsize=7.5)
        ax.text(p * part + part / 2, y_top - 0.3, f"{name}: d_out features", ha="center", fontsize=8)
    ax.text(4.5, 3.45, "split_heads: view as (heads, head_dim), move heads next to batch",
            ha="center", fontsize=8, color="#444444")
    # one row per head: its own slice of q, k and v, attending on head_dim features only
    for h in range(num_heads):
        y = 2.7 - h * 0.75
        for p, name in enumerate(("q", "k", "v")):
            segment(ax, 1.0 + p * (head_w + 0.15), y, head_w, 0.5, HEAD_COLOURS[h], f"{name}{h}", fontsize=7.5)
        ax.add_patch(FancyArrowPatch((1.0 + 3 * (head_w + 0.15), y + 0.25), (4.6, y + 0.25),
                                     arrowstyle="-|>", mutation_scale=10, lw=1.0))
        ax.text(4.7, y + 0.25, f"head {h}: causal attention\non head_dim features",
                va="center", fontsize=7.5)
        ax.add_patch(FancyArrowPatch((6.95, y + 0.25), (7.75, y + 0.25),
                                     arrowstyle="-|>", mutation_scale=10, lw=1.0))
        segment(ax, 7.8, y, 0.7, 0.5, HEAD_COLOURS[h], f"out{h}", fontsize=7.5)
    ax.text(8.15, 0.05, "merge_heads: concatenate\n→ out_proj (d_out, d_out)", ha="center", va="top", fontsize=8)
    ax.set_xlim(-0.2, 9.4)
    ax.set_ylim(-0.7, 6.4)
    ax.axis("off")
    ax.set_title("(b) multi-head attention: one fused projection, split into heads", fontsize=9.5)


def main() -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 5.2), gridspec_kw={"width_ratios": [1, 1.45]})
    draw_causal_grid(left)
    draw_head_split(right)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
