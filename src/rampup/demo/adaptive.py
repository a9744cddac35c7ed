"""``rampup demo --experiment adaptive``: one adaptive warmup against a grid of fixed warmups.

Two studies, each run over seeds, every variant differing only in its warmup:

- the demo's Post-LN Transformer language model (AdamW) at several peak rates: no warmup, linear
  warmups over 2%, 10% and 30% of training, the untuned 2/(1-beta2) rule, and the adaptive warmup;
- the demo's large-batch SGD (ResNet1D on MNIST-1D) at batch k x 128 with the linearly scaled
  rate, for several k: no warmup, Goyal et al.'s 5-epoch gradual warmup from the small-batch rate,
  and the adaptive warmup (the same ramp shape, from the small-batch rate).

The adaptive variant has ONE configuration for every case (:data:`ADAPTIVE`): its shortest warmup
is ``MIN_FRACTION`` of training, its longest ``MAX_FRACTION``, with the default
:class:`~rampup.adaptive.StabilityRule` on the loss and the gradient norm. The report says, per rate
and scaling, whether it lands within the seed noise of the best fixed warmup, and where not, by
how much.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rampup import (
    AdaptiveWarmup,
    Cosine,
    Join,
    MultiStep,
    Schedule,
    StabilityRule,
    Warmup,
    untuned_warmup_steps,
    with_warmup,
)
from rampup._files import write_atomic
from rampup.adaptive import warmup_length
from rampup.demo import experiments as base
from rampup.demo.experiments import Experiment, Sizes, Variant
from rampup.demo.report import TAIL

MIN_FRACTION = 0.1  # the schedule's warmup phase: the shortest adaptive warmup
MAX_FRACTION = 0.5  # AdaptiveWarmup's default max_warmup
LM_RATES = (1e-3, 3e-3, 1e-2)
LM_WIDTH = 64  # half the demo's width (6 layers, context 64 as there), so the grid fits ~20 minutes
SCALES = (8, 16)
EPOCHS = 12  # large-batch runs: the demo's length (228 updates at k=8)
QUICK_SMALL_BATCH = 16  # --quick: batches of k x 16, so the tests stay fast
STALLED = 0.25  # Transformer: a final loss this far above the best fixed variant's is a stall
STALLED_ACCURACY = 0.10  # large-batch SGD: test accuracy this far (10 points) below the best's


def adaptive_clock(total: int) -> AdaptiveWarmup:
    """The one adaptive configuration used everywhere: AdaptiveWarmup's defaults."""
    clock = AdaptiveWarmup()
    assert clock.max_warmup_spec == MAX_FRACTION
    return clock


def min_warmup(total: int) -> int:
    """MIN_FRACTION of training, but at least the updates the spike test needs to act (7)."""
    rule = StabilityRule()
    return max(math.ceil(MIN_FRACTION * total - 1e-9), AdaptiveWarmup().lag + rule.min_history)


@dataclasses.dataclass
class Study:
    """One panel of the comparison: an experiment at one peak rate or batch scaling."""

    key: str
    family: str  # "transformer" or "large_batch"
    label: str
    experiment: Experiment
    sizes: Sizes
    variants: list[Variant]
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)  # for the report's setup


def _lm_cosine(warmup: int | None = None, fraction: float = 0.0) -> Callable[[int, int], Schedule]:
    def build(total: int, _: int) -> Schedule:
        steps = math.ceil(fraction * total - 1e-9) if warmup is None else min(warmup, total // 2)
        return with_warmup(Cosine(steps=total - steps, min_lr_ratio=0.1), steps)

    return build


def _lm_adaptive(total: int, _: int) -> Schedule:
    steps = min_warmup(total)
    return with_warmup(Cosine(steps=total - steps, min_lr_ratio=0.1), steps)


def _lm_variants(rate: float) -> list[Variant]:
    untuned = untuned_warmup_steps(base.LM_BETAS[1])
    batch = base.LM_BATCH
    return [
        Variant("no_warmup", "cosine from the first step", batch, rate, _lm_cosine(0)),
        Variant("warmup_2%", "linear warmup over 2% of training", batch, rate, _lm_cosine(fraction=0.02)),
        Variant("warmup_10%", "linear warmup over 10%", batch, rate, _lm_cosine(fraction=0.1)),
        Variant("warmup_30%", "linear warmup over 30%", batch, rate, _lm_cosine(fraction=0.3)),
        Variant("untuned", f"linear warmup over 2/(1-beta2) = {untuned} steps", batch, rate,
                _lm_cosine(untuned)),
        Variant("adaptive", f"adaptive warmup, {MIN_FRACTION:.0%}..{MAX_FRACTION:.0%} of training",
                batch, rate, _lm_adaptive, clock=adaptive_clock),
    ]


def _sgd_schedule(kind: str, k: int, warmup: int | None = None) -> Callable[[int, int], Schedule]:
    """Goyal et al.: x0.1 at 50% and 75%; warmups from the small-batch rate (1/k of the peak)."""

    def build(total: int, per_epoch: int) -> Schedule:
        decay = MultiStep(milestones=(total // 2, 3 * total // 4), gamma=0.1)
        if kind == "none":
            return decay
        steps = min_warmup(total) if kind == "adaptive" else min(base.WARMUP_EPOCHS * per_epoch, total)
        ramp = Warmup(steps=steps, start=1.0 / k, endpoints="start")
        return Join(phases=(ramp, decay), boundaries=(steps,), clock="absolute")

    return build


def _sgd_variants(k: int, small_batch: int = base.SMALL_BATCH) -> list[Variant]:
    batch, rate = small_batch * k, base.BASE_LR * k
    small = f"{base.BASE_LR:g}"
    return [
        Variant("no_warmup", f"batch {batch} at {rate:g} from the first step", batch, rate,
                _sgd_schedule("none", k)),
        Variant("gradual_5ep", f"{small} rising to {rate:g} over {base.WARMUP_EPOCHS} epochs (Goyal)",
                batch, rate, _sgd_schedule("gradual", k)),
        Variant("adaptive", f"adaptive warmup from {small}, {MIN_FRACTION:.0%}..{MAX_FRACTION:.0%} of "
                "training", batch, rate, _sgd_schedule("adaptive", k), clock=adaptive_clock),
    ]


def studies(quick: bool, seeds: int | None, steps: int | None, data_for: Callable[[Experiment, Sizes], Any],
            ) -> list[tuple[Study, Any]]:
    """The studies of the comparison, each with its data."""
    out: list[tuple[Study, Any]] = []
    lm = base.transformer()
    lm_sizes = lm.quick if quick else Sizes(steps=200, seeds=2, eval_every=50, extra={"width": LM_WIDTH})
    lm_sizes = dataclasses.replace(lm_sizes, steps=steps or lm_sizes.steps, seeds=seeds or lm_sizes.seeds)
    lm_data = data_for(lm, lm_sizes)
    for rate in LM_RATES:
        study = Study(f"transformer@{rate:g}", "transformer", f"Post-LN Transformer, peak rate {rate:g}",
                      dataclasses.replace(lm, variants=_lm_variants(rate)), lm_sizes, _lm_variants(rate),
                      {"rate": rate, "width": lm_sizes.extra.get("width", 128),
                       "layers": lm_sizes.extra.get("layers", 6),
                       "context": lm_sizes.extra.get("context", 64)})
        out.append((study, lm_data))
    sgd = base.large_batch()
    sgd_base = sgd.quick if quick else Sizes(steps=0, seeds=2, eval_every=19)
    sgd_data = data_for(sgd, dataclasses.replace(sgd_base, steps=1))
    small = QUICK_SMALL_BATCH if quick else base.SMALL_BATCH
    for k in SCALES:
        per_epoch = sgd.steps_per_epoch(sgd_data, small * k)
        total = steps or (sgd_base.steps if quick else EPOCHS * per_epoch)
        sizes = dataclasses.replace(sgd_base, steps=total, seeds=seeds or sgd_base.seeds,
                                    eval_every=max(1, total // 12))
        variants = _sgd_variants(k, small)
        study = Study(f"large_batch@k={k}", "large_batch",
                      f"Large-batch SGD, k={k} (batch {small * k}, rate {base.BASE_LR * k:g})",
                      dataclasses.replace(sgd, variants=variants), sizes, variants,
                      {"k": k, "small_batch": small, "width": sgd_base.extra.get("width", 16)})
        out.append((study, sgd_data))
    return out


# -- aggregation --------------------------------------------------------------------------------
def _final(record: Any) -> float | None:
    if record.diverged or not record.train_loss:
        return None
    return statistics.fmean(record.train_loss[-TAIL:])


def summarise(study: Study, runs: dict[str, list[Any]], per_epoch: int) -> dict[str, Any]:
    """Per variant: the per-seed records, the means over seeds and their spread (max - min)."""
    variants: dict[str, Any] = {}
    for variant in study.variants:
        planned = warmup_length([variant.schedule(study.sizes.steps, per_epoch)]) or 0
        records = runs.get(variant.name, [])
        per_seed = []
        for r in records:
            per_seed.append({
                "seed": r.seed, "final_train_loss": _final(r), "diverged": r.diverged,
                "final_val_loss": None if r.diverged or not r.val_loss else r.val_loss[-1],
                "final_val_accuracy": None if r.diverged or not r.val_accuracy else r.val_accuracy[-1],
                "warmup": r.warmup, "lrs": r.lrs,
                "train_loss": [v if math.isfinite(v) else None for v in r.train_loss],
                "seconds": r.seconds,
            })
        finals = [s["final_train_loss"] for s in per_seed if s["final_train_loss"] is not None]
        accs = [s["final_val_accuracy"] for s in per_seed if s["final_val_accuracy"] is not None]
        vals = [s["final_val_loss"] for s in per_seed if s["final_val_loss"] is not None]
        variants[variant.name] = {
            "description": variant.description,
            "planned_warmup": planned,  # the schedule's warmup phase (adaptive: its shortest)
            "final_train_loss": statistics.fmean(finals) if finals else None,
            "spread": (max(finals) - min(finals)) if len(finals) > 1 else 0.0,
            "final_val_loss": statistics.fmean(vals) if vals else None,
            "final_val_accuracy": statistics.fmean(accs) if accs else None,
            "accuracy_spread": (max(accs) - min(accs)) if len(accs) > 1 else 0.0,
            "diverged_seeds": sum(s["diverged"] for s in per_seed),
            "seeds": len(per_seed),
            "warmup_updates": [s["warmup"]["warmup_updates"] for s in per_seed if s["warmup"]],
            "seconds": sum(s["seconds"] for s in per_seed),
            "per_seed": per_seed,
        }
    return {"key": study.key, "family": study.family, "label": study.label, **study.facts,
            "total_steps": study.sizes.steps, "steps_per_epoch": per_epoch, "variants": variants}


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


# -- the report ---------------------------------------------------------------------------------
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


def _setup_lines(summaries: list[dict[str, Any]], seeds: int) -> list[str]:
    lm = next((s for s in summaries if s["family"] == "transformer"), None)
    sgd = [s for s in summaries if s["family"] == "large_batch"]
    lines = ["Every variant differs from the others of its case only in its warmup; each runs "
             f"{seeds} seed(s) (the seed sets the initial weights and the data order).", ""]
    if lm is not None:
        lines.append(
            f"- **Post-LN Transformer**: the demo's byte-level language model ({lm['layers']} "
            f"Post-LayerNorm layers, width {lm['width']}, 4 heads, context {lm['context']}, no "
            "dropout, no gradient "
            f"clipping) on Python's standard library sources, AdamW (betas {base.LM_BETAS}, weight "
            f"decay 0.01), batch {base.LM_BATCH}, {lm['total_steps']} updates, cosine decay to 10% "
            "of the peak after the warmup, at peak rates "
            + ", ".join(f"{r:g}" for r in LM_RATES) + ". Metric: final training loss (mean of the "
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
        f"longest warmup {MAX_FRACTION:.0%} of training, the default `StabilityRule`, re-planned to end "
        f"on time), on the training loss and the gradient norm, over a schedule whose own warmup "
        f"phase, {MIN_FRACTION:.0%} of training, is its shortest. For SGD its ramp starts, like "
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
        *_setup_lines(summaries, results["seeds"]), "",
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


# -- running ------------------------------------------------------------------------------------
def run_adaptive(options: Any, device: Any, rank: int) -> dict[str, Any]:
    """Train every study's variants over its seeds; rank 0 writes the report into out/adaptive."""
    import os
    import time

    from rampup.demo.train import train, world

    began = time.perf_counter()
    load_start = _load()
    size = world()[1]
    out = options.out

    def data_for(experiment: Experiment, sizes: Sizes) -> Any:
        return experiment.make_data(sizes, out / ".cache")

    summaries = []
    seeds = 0
    for study, data in studies(options.quick, options.seeds, options.steps, data_for):
        runs: dict[str, list[Any]] = {}
        per_epoch = study.experiment.steps_per_epoch(data, study.variants[0].batch_size)
        seeds = study.sizes.seeds
        for variant in study.variants:
            for seed in range(study.sizes.seeds):
                checkpoint = out / "checkpoints" / f"adaptive-{study.key}-{variant.name}-seed{seed}.pt"
                if rank == 0:
                    checkpoint.parent.mkdir(parents=True, exist_ok=True)
                record = train(study.experiment, variant, data,
                               study.sizes, seed, device, checkpoint=checkpoint,
                               checkpoint_every=options.checkpoint_every, resume=options.resume,
                               progress=options.progress)
                runs.setdefault(variant.name, []).append(record)
                if rank == 0 and options.progress:
                    final = "diverged" if record.diverged else f"final loss {record.train_loss[-1]:.3f}"
                    warm = f", warmup {record.warmup['warmup_updates']}" if record.warmup else ""
                    print(f"  {study.key}/{variant.name} seed {seed}: {final}{warm} "
                          f"({record.seconds:.1f} s)", flush=True)
        summary = summarise(study, runs, per_epoch)
        summary["verdict"] = verdict(summary)
        summaries.append(summary)
    results = {"studies": summaries, "seeds": seeds, "seconds": time.perf_counter() - began,
               "min_fraction": MIN_FRACTION, "max_fraction": MAX_FRACTION,
               "machine": machine(device, size), "load": {"start": load_start, "end": _load()}}
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:  # one thread per process is much faster on shared cores; say how it ran
        results["threads_env"] = f"OMP_NUM_THREADS={threads} "
    if rank == 0:
        results["report"] = str(write_report(results, out / "adaptive", options.command))
    return results


def machine(device: Any, processes: int = 1) -> str:
    """The hardware and software a run used, in words (for the report)."""
    import os
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                       cpu)
    except OSError:
        pass
    where = f"{device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    return (f"{os.cpu_count()} CPU cores ({cpu}), device {where}, {torch.get_num_threads()} torch "
            f"thread(s), {processes} process(es), Python {platform.python_version()}, torch "
            f"{torch.__version__}")


def _load() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    import os

    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this system
        return None


def rewrite_report(folder: Path) -> Path:
    """Write ``folder/report.md`` (and its figures) again from ``folder/results.json``, with the
    verdicts computed afresh: ``python -m rampup.demo.adaptive docs/adaptive``."""
    import json

    results = json.loads((folder / "results.json").read_text())
    return write_report(results, folder, results["command"])


if __name__ == "__main__":
    import sys

    print(rewrite_report(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo/adaptive")))
