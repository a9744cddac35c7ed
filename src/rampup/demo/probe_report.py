"""The report of ``rampup demo --experiment probe``: results.json, report.md and its figures."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from rampup._files import write_atomic

TARGET_CV = 0.25
TARGET_LOSS = 1.10  # training at the suggestion: within 10% of the grid's best loss

def median_of(values: list[float | None]) -> float | None:
    """The median, a missing value (a diverged run) counting as worse than any loss; None when
    there are no values or the median itself is a diverged run."""
    if not values:
        return None
    middle = statistics.median(math.inf if v is None else v for v in values)
    return middle if math.isfinite(middle) else None


FINDERS = {"rampup": ("C0", "-"), "torch-lr-finder": ("C1", "--"), "lightning": ("C2", ":")}


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _figure(width: float = 7.5, height: float = 4.0) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110)


def _sweeps_figure(name: str, result: dict[str, Any], path: Path) -> None:
    figure = _figure()
    axes = figure.add_subplot()
    finders = result["finders"]
    for k, sweep in enumerate(finders["rampup"]["sweeps"]):
        lrs = np.asarray(sweep["lrs"])
        raw = np.asarray([np.nan if v is None else v for v in sweep["raw_losses"]])
        axes.plot(lrs, raw, ".", color=f"C{k + 3}", markersize=2, alpha=0.6)
        smoothed = [np.nan if v is None else v for v in sweep["losses"]]
        placed = sweep.get("smoothed_lrs") or sweep["lrs"]  # each smoothed value at the rates it averages
        count = min(len(placed), len(smoothed))
        axes.plot(placed[:count], smoothed[:count], color=f"C{k + 3}", linewidth=1.2,
                  label=f"rampup sweep, data order {k} (dots: raw, line: smoothed)")
    tops = [s["raw_losses"][0] for s in finders["rampup"]["sweeps"] if s["raw_losses"]]
    for finder, (color, style) in FINDERS.items():
        for k, value in enumerate(finders[finder]["suggestions"]):
            if value is not None:
                axes.axvline(value, color=color, linestyle=style, linewidth=1.3,
                             label=f"{finder} suggestions" if k == 0 else None)
    finite = [v for s in finders["rampup"]["sweeps"] for v in s["raw_losses"] if v is not None]
    if finite and tops:
        low = min(finite)
        axes.set_ylim(low - 0.05 * (max(tops) - low), max(tops) + 0.4 * (max(tops) - low))
    axes.set_xscale("log")
    axes.set(xlabel="learning rate (log scale)", ylabel="training loss",
             title=f"{name}: range tests and the three finders' suggestions")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path)


def _grid_figure(name: str, result: dict[str, Any], path: Path) -> None:
    figure = _figure()
    axes = figure.add_subplot()
    grid = result["grid"]
    rates = [g["lr"] for g in grid["runs"]]
    losses = [np.nan if g["final_loss"] is None else g["final_loss"] for g in grid["runs"]]
    axes.plot(rates, losses, "o-", color="0.4", label="grid (seed 0)")
    for k, tried in enumerate(grid.get("candidates", [])):
        values = [v for v in tried["losses"] if v is not None]
        axes.plot([tried["lr"]] * len(values), values, "s", color="0.2", markerfacecolor="none",
                  label="two best grid points, every seed" if k == 0 else None)
    if grid["best_loss"] is not None:
        axes.axhspan(grid["best_loss"], grid["best_loss"] * TARGET_LOSS, color="0.85",
                     label=f"within {TARGET_LOSS - 1:.0%} of the grid's best (median over seeds)")
    for finder, (color, _) in FINDERS.items():
        data = result["finders"][finder]
        for seed, run in enumerate(data["runs"]):
            if run["final_loss"] is not None:
                axes.plot([run["lr"]], [run["final_loss"]], "D", color=color, markersize=6,
                          label=f"{finder} (median suggestion, each seed)" if seed == 0 else None)
    axes.set_xscale("log")
    axes.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter

    axes.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))  # plain numbers on the log axis
    axes.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    axes.set(xlabel="peak learning rate (log scale)",
             ylabel=f"final training loss ({result['run_steps']} steps, log scale)",
             title=f"{name}: short runs at each peak rate (10% warmup, cosine)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7, loc="upper center")
    figure.tight_layout()
    figure.savefig(path)


def _critical_figure(name: str, result: dict[str, Any], path: Path) -> None:
    critical = result["critical"]
    figure = _figure(9.0, 3.6)
    trials, curves = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    references = [*critical["reference"], critical["reference"][0]]  # the last reading is batch 0
    for trial in critical["trials"]:
        ratio = max((v / r for v, r in zip(trial["losses"], references, strict=True) if v is not None),
                    default=np.nan)
        if any(v is None for v in trial["losses"]):
            ratio = np.nan
        trials.plot([trial["lr"]], [ratio if np.isfinite(ratio) else 2.0], "x" if trial["catapult"] else "o",
                    color="C3" if trial["catapult"] else "C2")
    trials.axhline(1 + critical["rise"], color="0.5", linestyle=":", linewidth=1)
    if critical["rate"] is not None:
        trials.axvline(critical["rate"], color="C0", label=f"critical rate {critical['rate']:.3g}")
        trials.legend(fontsize=7)
    trials.set_xscale("log")
    trials.set(xlabel="trial rate", ylabel="worst loss / same batch at start",
               title="trials (x: catapult, o: none)")
    trials.set_ylim(0, 2.1)
    trials.grid(alpha=0.3)
    for key, label in (("usual", "usual warmup from 0"), ("from_critical", "half warmup from critical")):
        for seed, run in enumerate(critical.get(key) or []):
            values = [np.nan if v is None else v for v in run["train_loss"]]
            curves.plot(values, label=f"{label}, seed {seed}: {_fmt(run['final_loss'], '.3f')}",
                        linewidth=1, color="C0" if key == "usual" else "C3",
                        linestyle="-" if seed == 0 else "--")
    curves.set_yscale("log")
    curves.set(xlabel="optimizer step", ylabel="training loss (log)",
               title=f"peak {critical['peak']:.3g}")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7)
    figure.suptitle(f"{name}: critical rate and warmup from it", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def _best_line(grid: dict[str, Any]) -> str:
    candidates = grid.get("candidates", [])
    seeds = max((len(c["losses"]) for c in candidates), default=0)
    tried = "; ".join(f"{c['lr']:.3g}: {', '.join(_fmt(v, '.3f') for v in c['losses'])} (median "
                      f"{_fmt(c['median'], '.3f')})" for c in candidates)
    line = (f"The two best grid points by seed 0, trained with seeds 0 to {seeds - 1}: {tried}. "
            f"Grid's best rate: {_fmt(grid['best_lr'])}, median loss {_fmt(grid['best_loss'], '.3f')}")
    if grid["best_at_edge"]:
        line += " (at the edge of the grid)"
    line += "."
    return line


def verdicts(result: dict[str, Any]) -> list[str]:
    """Each target of the issue, stated plainly as met or missed."""
    ours, theirs = result["finders"]["rampup"], result["finders"]["torch-lr-finder"]
    lines = []
    cv, their_cv = ours["cv"], theirs["cv"]
    if cv is None:
        lines.append(f"Spread: not measured (rampup made {len(ours['suggestions']) - ours['missing']} "
                     "suggestions).")
    else:
        met = cv <= TARGET_CV and (their_cv is None or cv <= their_cv)
        lines.append(f"Spread: {'met' if met else 'missed'}: rampup's coefficient of variation is "
                     f"{cv:.2f} (target <= {TARGET_CV} and <= torch-lr-finder's "
                     f"{'-' if their_cv is None else f'{their_cv:.2f}'}).")
    best = result["grid"]["best_loss"]
    loss, their_loss = ours["median_loss"], theirs["median_loss"]
    if best is None or loss is None:
        lines.append("Quality: not measured (a run diverged or there was no suggestion).")
    else:
        ratio = loss / best
        noise = _seed_noise(ours["losses"], theirs["losses"])
        no_worse = their_loss is None or loss <= their_loss + noise
        met = ratio <= TARGET_LOSS and no_worse
        edge = " (the grid's best rate is at its edge, so a better rate may lie outside it)" \
            if result["grid"]["best_at_edge"] else ""
        better = [name for name, data in result["finders"].items()
                  if data["median_loss"] is not None and data["median_loss"] < best]
        edge += (f"; {' and '.join(better)}'s suggestion did better than the grid's best"
                 if better else "")
        lines.append(
            f"Quality: {'met' if met else 'missed'}: training at rampup's median suggestion reaches "
            f"{loss:.3f} (median of {len(ours['losses'])} seeds), {ratio:.2f}x the grid's best "
            f"{best:.3f} (target <= {TARGET_LOSS:.2f}x){edge}; torch-lr-finder's suggestion reaches "
            f"{'-' if their_loss is None else f'{their_loss:.3f} ({their_loss / best:.2f}x)'} "
            f"(seed noise about {noise:.3f}).")
    critical = result["critical"]
    if critical.get("from_critical") and critical.get("usual"):
        mine = median_of([r["final_loss"] for r in critical["from_critical"]])
        usual = median_of([r["final_loss"] for r in critical["usual"]])
        seeds = len(critical["from_critical"])
        if mine is None or usual is None:
            lines.append("Critical-rate warmup: a run diverged: "
                         f"from the critical rate {_fmt(mine)}, usual warmup {_fmt(usual)}.")
        else:
            noise = _seed_noise([r["final_loss"] for r in critical["from_critical"]],
                                [r["final_loss"] for r in critical["usual"]])
            verdict = ("no worse than" if mine <= usual + noise / 2 else "worse than")
            if critical["start_fraction"] >= 1.0:
                how = (f"the critical rate ({critical['rate']:.3g}) is above the peak "
                       f"({critical['peak']:.3g}), so by the probe no warmup is needed: the run "
                       "without warmup")
            else:
                how = (f"half the warmup, starting at the critical rate ({critical['rate']:.3g}, "
                       f"{critical['start_fraction']:.0%} of the peak {critical['peak']:.3g}),")
            lines.append(f"Critical-rate warmup: {how} ends at {mine:.3f} (median of {seeds} seeds), "
                         f"{verdict} the usual warmup from 0 ({usual:.3f}; seed noise about "
                         f"{noise:.3f}).")
    else:
        lines.append(f"Critical-rate warmup: not run: {critical['reason']}")
    return lines


def _seed_noise(*groups: list[float | None]) -> float:
    """The largest range (highest minus lowest loss) over the seeds of one rate, among the groups
    (0 with one seed; diverged runs are left out)."""
    spreads = []
    for losses in groups:
        finite = [v for v in losses if v is not None]
        if len(finite) >= 2:
            spreads.append(max(finite) - min(finite))
    return max(spreads, default=0.0)


def write_probe_report(results: dict[str, Any], folder: Path, command: str) -> Path:
    """results.json, report.md and the figures, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = results["sizes"]
    lines = [
        "# rampup demo: choosing the peak rate and where warmup starts", "",
        f"Reproduce with `{command}` ({results['seconds']:.0f} s).", "",
        "Three range tests on the demo's own models and data, each sweeping the rate exponentially "
        f"from {sizes['min_lr']:g} to {sizes['max_lr']:g} over {sizes['sweep_steps']} updates on the "
        f"same batches, for {sizes['seeds']} data orders (the initial weights fixed): rampup's `find_lr` "
        "(its documented rule, no per-model settings), torch-lr-finder 0.2.2 (steepest slope, skipping "
        "10 points at the start and 5 at the end) and Lightning's `Tuner.lr_find` (its default "
        "`suggestion()`). Then short training runs (linear warmup over 10% of the run, then cosine to "
        f"10%) over a grid of {sizes['grid_points']} peak rates spanning two decades around rampup's "
        "median suggestion, and at each finder's median suggestion. Losses are final training losses "
        "(mean of the last 10 updates); rampup's and torch-lr-finder's suggestions and the two best "
        f"grid points are trained with {sizes.get('train_seeds', 2)} seeds (the initial weights and "
        "data order change with the seed) and scored by their median loss; Lightning's suggestion and "
        "the rest of the grid with one seed. Seed noise is the largest range of the losses over the "
        "seeds at one rate.",
        "",
        f"Targets: coefficient of variation of the suggestions <= {TARGET_CV} and no higher than "
        f"torch-lr-finder's; training at the median suggestion within {TARGET_LOSS - 1:.0%} of the "
        "grid's best loss and no worse than at torch-lr-finder's (within seed noise).", "",
    ]
    summary = []
    for name, result in results["models"].items():
        result["verdicts"] = verdicts(result)  # from the measurements, with the current wording
        lines += [f"## {result['title']}", ""]
        lines += [f"- {verdict}" for verdict in result["verdicts"]]
        summary += [f"- {name}: {verdict}" for verdict in result["verdicts"]]
        lines += ["", "| finder | suggestions | median | CV | loss at median (per seed) "
                  "| median loss / grid best |", "|---|---|---|---|---|---|"]
        best = result["grid"]["best_loss"]
        for finder, data in result["finders"].items():
            losses = ", ".join(_fmt(v, ".3f") for v in data["losses"]) or "-"
            middle = data["median_loss"]
            ratio = "-" if middle is None or best is None else f"{middle / best:.2f}"
            lines.append(f"| {finder} | {', '.join(_fmt(v) for v in data['suggestions'])} | "
                         f"{_fmt(data['median'])} | {_fmt(data['cv'], '.2f')} | {losses} | {ratio} |")
        grid = result["grid"]
        lines += ["", "Grid (seed 0): " + ", ".join(
            f"{g['lr']:.3g} -> {_fmt(g['final_loss'], '.3f')}" for g in grid["runs"]),
            "", _best_line(grid), ""]
        critical = result["critical"]
        lines += [f"Critical rate: {_fmt(critical['rate'])} ({len(critical['trials'])} trials of "
                  f"{critical['updates']} updates). {critical['reason']}.", ""]
        usual_steps = max(1, round(0.1 * result["run_steps"]))
        if "suggested_steps" in critical and critical["start_fraction"] < 1.0:
            lines += [f"For the peak {critical['peak']:.3g} the warmup can start at "
                      f"{critical['start_fraction']:.0%} of it; the same-slope warmup would take "
                      f"{critical['suggested_steps']} of the usual {usual_steps} steps; the run here "
                      "uses half the usual warmup.", ""]
        elif "suggested_steps" in critical:
            lines += [f"The critical rate is above the peak {critical['peak']:.3g}: by the probe the "
                      "run needs no warmup, so the run from the critical rate starts at the peak.", ""]
        figures = (("sweeps", _sweeps_figure), ("grid", _grid_figure), ("critical", _critical_figure))
        for kind, draw in figures:
            image = f"probe-{name}-{kind}.png"
            draw(name, result, folder / image)
            lines += [f"![{image}]({image})", ""]
    lines[lines.index("## " + next(iter(results["models"].values()))["title"]):
          lines.index("## " + next(iter(results["models"].values()))["title"])] = [
        "## Summary", "", *summary, ""]
    dump(results, folder / "results.json")
    report = folder / "report.md"
    write_atomic(report, "\n".join(lines).encode())
    return report


def dump(results: dict[str, Any], path: Path) -> None:
    write_atomic(path, (json.dumps(results, indent=1, default=_jsonable) + "\n").encode())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
