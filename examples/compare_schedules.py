"""Print a comparison table of common schedules and write a plot of them.

    python examples/compare_schedules.py --out runs/compare
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rampup

TOTAL, WARMUP = 10_000, 500
SPECS = {
    "linear (transformers)": rampup.schedule("linear", warmup_steps=WARMUP, total_steps=TOTAL),
    "cosine (transformers)": rampup.schedule("cosine", warmup_steps=WARMUP, total_steps=TOTAL),
    "warmup_cosine, floor 0.1": rampup.schedule(
        "warmup_cosine", warmup_steps=WARMUP, total_steps=TOTAL, min_lr_ratio=0.1
    ),
    "wsd, 1-sqrt cooldown": rampup.schedule("wsd", warmup_steps=WARMUP, total_steps=TOTAL),
    "inverse_sqrt": rampup.schedule("inverse_sqrt", warmup_steps=WARMUP),
    "one_cycle": rampup.schedule("one_cycle", total_steps=TOTAL),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/compare", help="folder for the plot")
    out = Path(parser.parse_args().out)
    marks = [0, 1, WARMUP - 1, WARMUP, 2_500, 5_000, 9_000, TOTAL - 1, TOTAL]
    print(f"Multiplier of the peak rate at chosen steps (warmup {WARMUP}, total {TOTAL})\n")
    print(f"{'schedule':<28}" + "".join(f"{m:>9}" for m in marks))
    for name, schedule in SPECS.items():
        values = schedule(np.asarray(marks))
        print(f"{name:<28}" + "".join(f"{v:>9.4f}" for v in values))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(TOTAL + 1)
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    for name, schedule in SPECS.items():
        ax.plot(steps, schedule(steps), label=name, linewidth=1.5)
    ax.axvspan(0, WARMUP, color="0.9", label=f"warmup ({WARMUP} steps)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("multiplier of the peak rate")
    ax.set_title("rampup: common schedules")
    ax.legend(fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "schedules.png")
    print(f"\nwrote {out / 'schedules.png'}")


if __name__ == "__main__":
    main()
