"""Draw the course's data path (question + database → SQL → execution → metrics) as figures/data_path.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "data_path.png"

# (label, x, y, chapter that builds it, colour)
STAGES = [
    ("question\n+ database", 0.6, 2.0, "ch. 0", "#e8eef7"),
    ("schema\nserialiser", 2.2, 2.0, "data", "#e8eef7"),
    ("prompt", 3.7, 2.0, "data", "#e8eef7"),
    ("tokenizer\n(BPE)", 5.2, 2.0, "ch. 1", "#fdf1dc"),
    ("GPT", 6.7, 2.0, "ch. 2-5, 7", "#fde2e2"),
    ("decoder", 8.2, 2.0, "ch. 6", "#fdf1dc"),
    ("SQL", 9.7, 2.0, "", "#e5f4e3"),
    ("gold SQL", 6.7, 0.4, "", "#e5f4e3"),
    ("safe executor\n(SQLite, read-only)", 9.7, 0.4, "", "#ece5f4"),
    ("metrics\nexecution accuracy\nexact match, valid SQL", 9.7, -1.1, "", "#ece5f4"),
]


def box(ax, label, x, y, note, colour):
    w, h = (1.25, 0.85) if "\n" not in label or len(label) < 22 else (1.75, 0.95)
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=colour, ec="#333333", lw=1.2))
    ax.text(x, y, label, ha="center", va="center", fontsize=9)
    if note:
        ax.text(x, y + h / 2 + 0.15, note, ha="center", va="bottom", fontsize=7.5, color="#555555")


def arrow(ax, a, b):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, lw=1.2, color="#333333"))


def main() -> Path:
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for stage in STAGES:
        box(ax, *stage)
    for left, right in zip(STAGES[:6], STAGES[1:7]):
        arrow(ax, (left[1] + 0.67, left[2]), (right[1] - 0.67, right[2]))
    arrow(ax, (9.7, 1.52), (9.7, 0.88))  # SQL → executor
    arrow(ax, (7.37, 0.4), (8.78, 0.4))  # gold → executor
    arrow(ax, (9.7, -0.08), (9.7, -0.58))  # executor → metrics
    ax.set_xlim(-0.2, 10.8)
    ax.set_ylim(-1.8, 2.9)
    ax.axis("off")
    ax.set_title("The path of the data: every chapter adds one stage", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
