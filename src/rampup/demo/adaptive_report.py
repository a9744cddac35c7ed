"""The verdicts and the report of ``rampup demo --experiment adaptive`` (:mod:`rampup.demo.adaptive`
runs the studies): every verdict is computed from the numbers in ``results.json``, so a report can
be written again from that file alone (:func:`rewrite_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rampup._files import write_atomic
from rampup.demo import experiments as base

STALLED = 0.25  # Transformer: a final loss this far above the best fixed variant's is a stall
STALLED_ACCURACY = 0.10  # large-batch SGD: test accuracy this far (10 points) below the best's


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """Adaptive against the best fixed variant (no warmup counts as one), from the numbers.

    Metric: final training loss (mean of the last 10 updates, lower is better) for the
    Transformer; test accuracy (higher is better) for large-batch SGD; each a mean over seeds.
    Seed noise: the larger seed spread (max - min) of the two variants compared. Fixed variants
    that diverged on any seed are not candidates for the best.

    Two goals, each met or missed:

    - ``within``: adaptive is worse than the best fixed variant by no more than the seed noise;
    - ``trains``: adaptive did not diverge on any seed and did not stall where a fixed variant
      trained on every seed. Stalled: the mean ends worse than the best's by more than
      :data:`STALLED` in loss (:data:`STALLED_ACCURACY` in accuracy) and beyond the seed noise, or
      any one seed ends worse than the best's run of the same seed (the same initial weights and
      data order) by more than that margin, whatever the spreads: a seed noise widened by
      adaptive's own erratic seeds must not hide a seed that failed.
    """
    variants = summary["variants"]
    accuracy = summary["family"] == "large_batch"
    key, spread_key = (("final_val_accuracy", "accuracy_spread") if accuracy
                       else ("final_train_loss", "spread"))
    fixed = {name: v for name, v in variants.items() if name != "adaptive" and v[key] is not None
             and not v["diverged_seeds"]}
    adaptive = variants.get("adaptive")
    if not fixed or adaptive is None:
        return {"text": "No verdict: no fixed warmup trained on every seed.", "within": None,
                "trains": None}
    best_name = (max if accuracy else min)(fixed, key=lambda n: fixed[n][key])
    best = fixed[best_name]
    if adaptive[key] is None or adaptive["diverged_seeds"]:
        return {"best": best_name, "within": False, "trains": False, "gap": None, "noise": None,
                "text": f"Missed: adaptive diverged on {adaptive['diverged_seeds']} of "
                        f"{adaptive['seeds']} seeds where {best_name} trained "
                        f"({_metric(best[key], accuracy)})."}
    gap = (best[key] - adaptive[key]) if accuracy else (adaptive[key] - best[key])
    noise = max(best[spread_key], adaptive[spread_key])
    within = gap <= noise
    margin = STALLED_ACCURACY if accuracy else STALLED
    pairs = _pairs(best, adaptive, key, accuracy)
    failed = [seed for seed, d in pairs if d > margin]
    stalled = (gap > noise and gap > margin) or bool(failed)
    text = (f"{'Met' if within else 'Missed'}: best fixed {best_name} "
            f"({_metric(best[key], accuracy)}), adaptive {_metric(adaptive[key], accuracy)}: ")
    if gap <= 0:
        text += f"as good or better (by {_metric(-gap, accuracy, delta=True)})"
    else:
        text += (f"worse by {_metric(gap, accuracy, delta=True)}, "
                 f"{'within' if within else 'beyond'} the seed noise "
                 f"({_metric(noise, accuracy, delta=True)}"
                 + (", adaptive's own seed spread" if adaptive[spread_key] > best[spread_key] else "")
                 + ")")
    paired = [d for _, d in pairs]
    if paired:
        signed = ", ".join(f"{d * 100:+.1f} points" if accuracy else f"{d:+.3f}" for d in paired)
        text += ("; seed by seed (the same initial weights and data order) adaptive is behind the "
                 f"best by {signed} (negative: ahead)")
    if failed:
        text += (f"; it stalled on seed {', '.join(str(s) for s in failed)} (more than "
                 f"{_metric(margin, accuracy, delta=True)} behind the best on the same seed)")
    elif stalled:
        text += "; it stalled (ended far behind the best)"
    else:
        text += "; it trained on every seed (no divergence, no stall)"
    return {"best": best_name, "gap": gap, "noise": noise, "within": within, "trains": not stalled,
            "stalled": stalled, "paired": paired, "failed_seeds": failed, "text": text + "."}


def _pairs(best: dict[str, Any], adaptive: dict[str, Any], key: str, accuracy: bool,
           ) -> list[tuple[int, float]]:
    """Per seed both trained: (seed, how far adaptive is behind the best; negative: ahead).

    Sharper than the means: a seed fixes the initial weights and the data order, so the two runs
    of a seed differ only in warmup. The "within" goal is stated against the seed noise; a seed
    that ended more than the stall margin behind counts as a stall."""
    theirs = {s["seed"]: s[key] for s in best.get("per_seed", []) if s[key] is not None}
    out = []
    for s in adaptive.get("per_seed", []):
        if s[key] is not None and s["seed"] in theirs:
            out.append((s["seed"], theirs[s["seed"]] - s[key] if accuracy else s[key] - theirs[s["seed"]]))
    return out


def _metric(value: float, accuracy: bool, delta: bool = False) -> str:
    if accuracy:
        return f"{value * 100:.1f} points" if delta else f"{value:.1%} test accuracy"
    return f"{value:.3f}" if delta else f"loss {value:.3f}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def figure(summaries: list[dict[str, Any]], family: str, folder: Path) -> str | None:
    """Rate curves of the adaptive runs (every seed) with holds shaded and back-offs marked,
    over the fixed warmups' curves (thin, grey)."""
    chosen = [s for s in summaries if s["family"] == family]
    if not chosen:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(chosen), 3.6), dpi=110)
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    for ax, summary in zip(axes, chosen, strict=True):
        for name, data in summary["variants"].items():
            if name == "adaptive" or not data["per_seed"]:
                continue
            lrs = data["per_seed"][0]["lrs"]
            ax.plot(np.arange(len(lrs)), lrs, color="0.75", linewidth=0.8)
        for i, seed in enumerate(summary["variants"].get("adaptive", {}).get("per_seed", [])):
            colour = colours[i % len(colours)]
            lrs = seed["lrs"]
            ax.plot(np.arange(len(lrs)), lrs, color=colour, linewidth=1.3,
                    label=f"adaptive, seed {seed['seed']}")
            warmup = seed["warmup"] or {}
            for event in warmup.get("events", []):
                # the decision at update u sets the rate of update u + 1
                start, stop = event["from_update"] + 1, event["to_update"] + 2
                if event["decision"] == "back":
                    ax.plot([start], [lrs[min(start, len(lrs) - 1)]], marker="v", color=colour, markersize=6)
                elif event["decision"] == "hold":
                    ax.axvspan(start, stop, color=colour, alpha=0.15, linewidth=0)
            if warmup.get("warmup_updates"):
                ax.axvline(warmup["warmup_updates"], color=colour, linestyle=":", linewidth=1)
        ax.set(title=summary["label"], xlabel="optimizer update", ylabel="learning rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("adaptive warmup: rates (shaded: held; v: stepped back; dotted: warmup end; "
                 "grey: fixed warmups)", fontsize=9)
    fig.tight_layout()
    name = f"adaptive-{family}-lr.png"
    fig.savefig(folder / name)
    return name


def _goal_lines(summaries: list[dict[str, Any]]) -> list[str]:
    """The two goals over all cases, each met or missed, computed from the verdicts."""
    judged = [s for s in summaries if s["verdict"].get("within") is not None]
    within = [s for s in judged if s["verdict"]["within"]]
    trains = [s for s in judged if s["verdict"]["trains"]]
    lines = []
    for name, met, what in (
        ("Within the seed noise of the best fixed warmup at every rate and scaling", within,
         "within"),
        ("Never stalling or diverging where a fixed warmup trains", trains, "trains"),
    ):
        line = (f"- **{name}: {'met' if len(met) == len(judged) else 'missed'}** (met in "
                f"{len(met)} of {len(judged)} cases).")
        missed = [s for s in judged if not s["verdict"][what]]
        if missed:
            line += " Missed at: " + "; ".join(f"{s['label']} ({_short(s)})" for s in missed) + "."
        lines.append(line)
    unjudged = [s["label"] for s in summaries if s not in judged]
    if unjudged:
        lines.append(f"- No verdict (no fixed warmup trained on every seed): {', '.join(unjudged)}.")
    return lines


def _short(summary: dict[str, Any]) -> str:
    v = summary["verdict"]
    accuracy = summary["family"] == "large_batch"
    if v["gap"] is None:
        return "adaptive diverged"
    text = (f"worse than {v['best']} by {_metric(v['gap'], accuracy, delta=True)}, seed noise "
            f"{_metric(v['noise'], accuracy, delta=True)}")
    pairs = dict(zip([s["seed"] for s in summary["variants"]["adaptive"]["per_seed"]
                      if s[("final_val_accuracy" if accuracy else "final_train_loss")] is not None],
                     v.get("paired", []), strict=False))
    for seed in v.get("failed_seeds", []):
        text += f"; seed {seed} {_metric(pairs[seed], accuracy, delta=True)} behind its pair"
    return text


def _setup_lines(summaries: list[dict[str, Any]], seeds: int, shortest: float, longest: float,
                 ) -> list[str]:
    lms = [s for s in summaries if s["family"] == "transformer"]
    lm = lms[0] if lms else None
    sgd = [s for s in summaries if s["family"] == "large_batch"]
    counts = {family: sorted({v["seeds"] for s in summaries if s["family"] == family
                              for v in s["variants"].values()})
              for family in ("transformer", "large_batch")}
    if counts["large_batch"] and counts["large_batch"] != counts["transformer"]:
        each = (f"each Transformer variant runs {'/'.join(map(str, counts['transformer']))} seed(s), "
                f"each SGD variant {'/'.join(map(str, counts['large_batch']))}")
    else:
        each = f"each runs {seeds} seed(s)"
    lines = ["Every variant differs from the others of its case only in its warmup; "
             f"{each} (the seed sets the initial weights and the data order).", ""]
    if lm is not None:
        lines.append(
            f"- **Post-LN Transformer**: the demo's byte-level language model ({lm['layers']} "
            f"Post-LayerNorm layers, width {lm['width']}, 4 heads, context {lm['context']}, no "
            "dropout, no gradient "
            f"clipping) on Python's standard library sources, AdamW (betas {base.LM_BETAS}, weight "
            f"decay 0.01), batch {base.LM_BATCH}, {lm['total_steps']} updates, cosine decay to 10% "
            "of the peak after the warmup, at peak rates "
            + ", ".join(f"{s['rate']:g}" for s in lms) + ". Metric: final training loss (mean of the "
            "last 10 updates; lower is better).")
    if sgd:
        lines.append(
            f"- **Large-batch SGD**: the demo's ResNet1D (width {sgd[0]['width']}) on MNIST-1D, "
            "momentum SGD (0.9, weight decay 5e-4), batch k x "
            f"{sgd[0]['small_batch']} at k x "
            f"{base.BASE_LR:g} (linear scaling rule) for k = "
            + ", ".join(str(s["k"]) for s in sgd) + " ("
            + ", ".join(f"{s['total_steps']} updates, {s['total_steps'] / s['steps_per_epoch']:.3g} "
                        f"epochs at k={s['k']}" for s in sgd)
            + "), rate x0.1 at 50% and 75% of training. Metric: test accuracy at the end (higher "
            "is better).")
    lines.append(
        f"- **Adaptive**: one configuration for every case: `AdaptiveWarmup()` (its defaults: the "
        f"longest warmup {longest:.0%} of training, the default `StabilityRule`, re-planned to end "
        f"on time), on the training loss and the gradient norm, over a schedule whose own warmup "
        f"phase, {shortest:.0%} of training, is its shortest. For SGD its ramp starts, like "
        "Goyal's, at the small-batch rate.")
    return lines


def write_report(results: dict[str, Any], folder: Path, command: str) -> Path:
    """results.json, report.md and its figures in ``folder``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    summaries = results["studies"]
    for summary in summaries:  # from the numbers, with the current rule and wording
        summary["verdict"] = verdict(summary)
    results["command"] = command
    write_atomic(folder / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    load = results.get("load") or {}
    if load.get("start") is None or load.get("end") is None:
        load = {}
    lines = [
        "# rampup demo: adaptive warmup against fixed warmups", "",
        f"Reproduce with `{results.get('threads_env', '')}{command}`. This run: "
        f"{results['seconds'] / 60:.1f} minutes on "
        f"{results.get('machine', 'this machine')}"
        + (f" (load average {load['start']:.1f} at the start, {load['end']:.1f} at the end: the "
           "cores were shared with other jobs, which changes the run time, not the numbers)"
           if load else "") + ".", "",
        *_setup_lines(summaries, results["seeds"], results["min_fraction"],
                      results["max_fraction"]), "",
        "Goal: adaptive within the seed noise of the best fixed warmup (no warmup counts as one) at "
        "every rate and scaling, and never stalling or diverging where some fixed warmup trains. "
        "Seed noise: the larger of the two variants' seed spreads (max - min over seeds). Stalled: "
        f"ending worse than the best fixed variant by more than {STALLED} in loss "
        f"(Transformer) or {STALLED_ACCURACY * 100:.0f} points of accuracy (SGD), on the means "
        "beyond the seed noise, or on any one seed against the best's run of the same seed. Every "
        "verdict below is computed from the numbers in results.json.", "",
        "## Summary", "", *_goal_lines(summaries), "",
        *[f"- {s['label']}: {s['verdict']['text']}" for s in summaries], "",
    ]
    for summary in summaries:
        accuracy = summary["family"] == "large_batch"
        lines += [f"## {summary['label']}", "", f"{summary['total_steps']} updates per run.", ""]
        if accuracy:
            header = ("| variant | what | warmup (updates) | test accuracy per seed | mean (spread) | "
                      "final train loss | diverged |")
        else:
            header = ("| variant | what | warmup (updates) | final train loss per seed | mean (spread) | "
                      "final val loss | diverged |")
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for name, data in summary["variants"].items():
            seeds = data["per_seed"]
            if name == "adaptive":
                chosen = [s["warmup"]["warmup_updates"] for s in seeds if s["warmup"]]
                warm = (", ".join("-" if w is None else str(w) for w in chosen)
                        + f" (bounds {data['planned_warmup']}..{_max_warmup(seeds)})")
            else:
                warm = str(data["planned_warmup"])
            if accuracy:
                per = ", ".join(_fmt(s["final_val_accuracy"], ".1%") for s in seeds)
                mean = (f"{_fmt(data['final_val_accuracy'], '.1%')} "
                        f"({_fmt(100 * data['accuracy_spread'], '.1f')} pts)")
                other = _fmt(data["final_train_loss"], ".3f")
            else:
                per = ", ".join(_fmt(s["final_train_loss"], ".3f") for s in seeds)
                mean = f"{_fmt(data['final_train_loss'], '.3f')} ({_fmt(data['spread'], '.3f')})"
                other = _fmt(data["final_val_loss"], ".3f")
            lines.append(f"| {name} | {data['description']} | {warm} | {per} | {mean} | {other} | "
                         f"{data['diverged_seeds']}/{data['seeds']} |")
        lines += ["", f"**Result:** {summary['verdict']['text']}", "", "Adaptive, per seed:", ""]
        for seed in summary["variants"].get("adaptive", {}).get("per_seed", []):
            if seed["warmup"]:
                lines.append(f"- seed {seed['seed']}: {_describe(seed['warmup'])}")
        lines.append("")
    lines += ["## Rate curves of the adaptive runs", ""]
    for family in ("transformer", "large_batch"):
        image = figure(summaries, family, folder)
        if image:
            lines += [f"![{image}]({image})", ""]
    lines += [
        "## Notes", "",
        "Final training losses average the last 10 updates; means and spreads are over seeds "
        "(spread: max - min); test accuracy and validation loss are the last evaluation. A diverged "
        "seed (loss not finite or above 1000) is left out of the means and counted. Warmup "
        "(updates): the schedule's warmup phase for the fixed variants; for adaptive, the update "
        "at which its warmup reached the peak, per seed, and its bounds. In the figures the "
        "decision taken at update u sets the rate of update u + 1.", "",
    ]
    report = folder / "report.md"
    write_atomic(report, "\n".join(lines).encode())
    return report


def _max_warmup(seeds: list[dict[str, Any]]) -> str:
    bounds = {s["warmup"]["max_warmup"] for s in seeds if s["warmup"]}
    return "/".join(str(b) for b in sorted(bounds)) or "-"


def _describe(warmup: dict[str, Any]) -> str:
    head = (f"warmup took {warmup['warmup_updates']} updates (bounds {warmup['min_warmup']}.."
            f"{warmup['max_warmup']}), held {warmup['held_updates']} updates, "
            f"{warmup['back_offs']} step-backs, {warmup['forced_updates']} forced")
    if "waited_updates" in warmup:  # results of the rule with a pace, waits and a peak skip
        head += (f" (raised to the longest plan), {warmup['waited_updates']} waited (untested), "
                 f"pace at the end {warmup['pace']:g}")
        if warmup.get("peak_steps_skipped"):
            head += f", {warmup['peak_steps_skipped']} peak steps skipped by the re-plan"
    spans = []
    for e in warmup["events"][:12]:
        where = (f"{e['from_update']}" if e["from_update"] == e["to_update"]
                 else f"{e['from_update']}-{e['to_update']}")
        spans.append(f"{e['decision']} {where}")
    more = len(warmup["events"]) - 12
    return head + (" (" + ", ".join(spans) + (f", {more} more" if more > 0 else "") + ")" if spans else "")


def rewrite_report(folder: Path) -> Path:
    """Write ``folder/report.md`` (and its figures) again from ``folder/results.json``, with the
    verdicts computed afresh: ``python -m rampup.demo.adaptive docs/adaptive``."""
    import json

    results = json.loads((folder / "results.json").read_text())
    return write_report(results, folder, results["command"])
