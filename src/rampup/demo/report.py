"""Aggregate the demo's runs over seeds and write results.json, report.md and its figures."""

from __future__ import annotations

import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from rampup._files import Outputs
from rampup.demo.experiments import Experiment
from rampup.demo.train import RunRecord

TAIL = 10  # final losses are averaged over the last TAIL steps, to read through step noise


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean(values: list[float]) -> float | None:
    kept = _finite(values)
    return statistics.fmean(kept) if kept else None


def loss_spike(losses: list[float], window: int = 5) -> float:
    """The largest rise of the smoothed training loss above its lowest value so far."""
    if not losses:
        return 0.0
    values = np.asarray(losses, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return math.inf
    kernel = np.ones(min(window, len(values))) / min(window, len(values))
    smooth = np.convolve(values, kernel, mode="valid")
    lowest = np.minimum.accumulate(smooth)
    return float(np.max(smooth - lowest))


def summarise(record: RunRecord) -> dict[str, Any]:
    tail = record.train_loss[-TAIL:]
    return {
        "seed": record.seed,
        "steps": len(record.train_loss),
        "final_train_loss": None if record.diverged else _mean(tail),
        "final_val_loss": None if record.diverged or not record.val_loss else record.val_loss[-1],
        "final_val_accuracy": (None if record.diverged or not record.val_accuracy
                               else record.val_accuracy[-1]),
        "diverged": record.diverged,
        "max_loss_spike": loss_spike(record.train_loss) if not record.diverged else None,
        "seconds": record.seconds,
        "lrs": record.lrs,
        "train_loss": [v if math.isfinite(v) else None for v in record.train_loss],
        "eval_steps": record.eval_steps,
        "val_loss": record.val_loss,
        "val_accuracy": record.val_accuracy,
    }


def aggregate(experiment: Experiment, runs: dict[str, list[RunRecord]],
              steps_per_epoch: dict[str, int]) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant in experiment.variants:
        records = runs.get(variant.name, [])
        if not records:
            continue
        per_seed = [summarise(r) for r in records]
        variants[variant.name] = {
            "description": variant.description,
            "batch_size": variant.batch_size,
            "peak_lr": variant.peak_lr,
            "steps_per_epoch": steps_per_epoch[variant.name],
            "final_train_loss": _mean([s["final_train_loss"] for s in per_seed]),
            "final_val_loss": _mean([s["final_val_loss"] for s in per_seed]),
            "final_val_accuracy": (_mean([s["final_val_accuracy"] for s in per_seed])
                                   if experiment.has_accuracy else None),
            "diverged": any(s["diverged"] for s in per_seed),
            "diverged_seeds": sum(s["diverged"] for s in per_seed),
            "max_loss_spike": _mean([s["max_loss_spike"] for s in per_seed]),
            "seconds": sum(s["seconds"] for s in per_seed),
            "seeds": len(per_seed),
            "per_seed": per_seed,
        }
    return {"title": experiment.title, "setup": experiment.setup,
            "expectation": experiment.expectation, "variants": variants}


def verdict(name: str, result: dict[str, Any]) -> str:
    """Whether the effect the literature predicts shows in these numbers, said plainly."""
    v = result["variants"]
    if name == "transformer" and {"no_warmup", "linear_warmup"} <= v.keys():
        bad, good = v["no_warmup"], v["linear_warmup"]
        if bad["diverged"] and not good["diverged"]:
            return "Shown: without warmup the run diverged; with linear warmup it trained."
        if bad["final_train_loss"] is not None and good["final_train_loss"] is not None:
            gap = bad["final_train_loss"] - good["final_train_loss"]
            if gap > 0.1:
                return (f"Shown: without warmup the final training loss is {gap:.2f} higher "
                        f"({bad['final_train_loss']:.3f} vs {good['final_train_loss']:.3f}).")
            return (f"Not shown: the final training losses differ by only {gap:.2f} "
                    f"({bad['final_train_loss']:.3f} without warmup vs "
                    f"{good['final_train_loss']:.3f} with it).")
    if name == "large_batch" and {"no_warmup", "gradual_warmup", "small_batch"} <= v.keys():
        base, bad, good = (v[k]["final_val_accuracy"] for k in ("small_batch", "no_warmup",
                                                                 "gradual_warmup"))
        if None in (base, good):
            return "Not shown: a run diverged before it could be scored."
        if bad is None:
            return (f"Shown: without warmup the large-batch run diverged; gradual warmup reached "
                    f"{good:.1%} (small-batch baseline {base:.1%}).")
        closed = (good - bad) / (base - bad) if base > bad else None
        if good > bad + 0.01:
            share = f", closing {closed:.0%} of the gap" if closed is not None else ""
            return (f"Shown: gradual warmup reached {good:.1%} test accuracy against {bad:.1%} "
                    f"without warmup (small-batch baseline {base:.1%}){share}.")
        return (f"Not shown: gradual warmup reached {good:.1%} against {bad:.1%} without warmup "
                f"(small-batch baseline {base:.1%}).")
    return "No verdict: the variants needed for it were not run."


def _band(values: list[list[float | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    length = min(len(v) for v in values)
    array = np.array([[np.nan if x is None else x for x in v[:length]] for v in values], dtype=float)
    return np.nanmean(array, 0), np.nanmin(array, 0), np.nanmax(array, 0)


def figures(name: str, result: dict[str, Any], folder: Path, outputs: Outputs) -> list[str]:
    """Draw the rate and loss figures of one experiment; they are added to ``outputs``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    written = []
    rate_fig = Figure(figsize=(7, 3.6), dpi=110)
    loss_fig = Figure(figsize=(7, 3.6), dpi=110)
    rates, losses = rate_fig.add_subplot(), loss_fig.add_subplot()
    for variant, data in result["variants"].items():
        per_epoch = data["steps_per_epoch"] if name == "large_batch" else None
        seeds = data["per_seed"]
        x_scale = 1.0 / per_epoch if per_epoch else 1.0
        lrs = seeds[0]["lrs"]
        rates.plot(np.arange(len(lrs)) * x_scale, lrs, label=variant)
        mean, low, high = _band([s["train_loss"] for s in seeds])
        x = np.arange(len(mean)) * x_scale
        line = losses.plot(x, mean, label=variant, linewidth=1.2)[0]
        if len(seeds) > 1:
            losses.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    unit = "epoch" if name == "large_batch" else "optimizer step"
    rates.set(xlabel=unit, ylabel="learning rate", title=f"{name}: learning rates")
    losses.set(xlabel=unit, ylabel="training loss (log)", yscale="log",
               title=f"{name}: training loss (mean, band = min..max over seeds)")
    for axes in (rates, losses):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    for figure, suffix in ((rate_fig, "lr"), (loss_fig, "loss")):
        figure.tight_layout()
        path = folder / f"{name}-{suffix}.png"
        image = io.BytesIO()
        figure.savefig(image, format="png")
        outputs.add(path, image.getvalue())
        written.append(path.name)
    return written


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def write_report(results: dict[str, Any], folder: Path, command: str) -> Path:
    """results.json, report.md and the PNG figures it shows, in ``folder``: all of them or, if
    anything fails, none."""
    outputs = Outputs()
    outputs.add(folder / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    lines = ["# rampup demo: what warmup does", "", f"Reproduce with `{command}`.", ""]
    if results.get("machine"):
        lines[-1:] = [f"Made on {results['machine']}.", ""]
    for name, result in results["experiments"].items():
        lines += [f"## {result['title']}", "", result["setup"], "",
                  f"**Expected:** {result['expectation']}", "",
                  f"**Result:** {verdict(name, result)}", ""]
        accuracy = any(v["final_val_accuracy"] is not None for v in result["variants"].values())
        header = "| variant | what | final train loss | final val loss |"
        header += " val accuracy |" if accuracy else ""
        header += " diverged seeds | max loss spike | seconds |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for variant, data in result["variants"].items():
            row = (f"| {variant} | {data['description']} | {_fmt(data['final_train_loss'], '.3f')} | "
                   f"{_fmt(data['final_val_loss'], '.3f')} |")
            if accuracy:
                row += f" {_fmt(data['final_val_accuracy'], '.1%')} |"
            row += (f" {data['diverged_seeds']}/{data['seeds']} | "
                    f"{_fmt(data['max_loss_spike'], '.3f')} | {data['seconds']:.0f} |")
            lines.append(row)
        lines.append("")
        for image in figures(name, result, folder, outputs):
            lines += [f"![{image}]({image})", ""]
    lines += [
        "Final losses average the last 10 training steps and are means over seeds; a diverged "
        "seed (loss not finite or above 1000) is left out of the means and counted instead. "
        "The loss spike is the largest rise of the 5-step smoothed training loss above its "
        "lowest value so far.", "",
    ]
    report = folder / "report.md"
    outputs.add(report, "\n".join(lines).encode())
    outputs.commit()
    return report
