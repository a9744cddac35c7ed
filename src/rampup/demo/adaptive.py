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
STALLED = 0.25  # a final loss this far above the best variant's counts as stalled


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
                      dataclasses.replace(lm, variants=_lm_variants(rate)), lm_sizes, _lm_variants(rate))
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
                      dataclasses.replace(sgd, variants=variants), sizes, variants)
        out.append((study, sgd_data))
    return out


# -- aggregation --------------------------------------------------------------------------------
def _final(record: Any) -> float | None:
    if record.diverged or not record.train_loss:
        return None
    return statistics.fmean(record.train_loss[-TAIL:])


def summarise(study: Study, runs: dict[str, list[Any]], per_epoch: int) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant in study.variants:
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
        variants[variant.name] = {
            "description": variant.description,
            "final_train_loss": statistics.fmean(finals) if finals else None,
            "spread": (max(finals) - min(finals)) if len(finals) > 1 else 0.0,
            "final_val_accuracy": statistics.fmean(accs) if accs else None,
            "accuracy_spread": (max(accs) - min(accs)) if len(accs) > 1 else 0.0,
            "diverged_seeds": sum(s["diverged"] for s in per_seed),
            "seeds": len(per_seed),
            "warmup_updates": [s["warmup"]["warmup_updates"] for s in per_seed if s["warmup"]],
            "seconds": sum(s["seconds"] for s in per_seed),
            "per_seed": per_seed,
        }
    return {"key": study.key, "family": study.family, "label": study.label,
            "total_steps": study.sizes.steps, "steps_per_epoch": per_epoch, "variants": variants}


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """Adaptive against the best fixed warmup, in the study's metric, with the seed noise.

    Metric: final training loss (mean of the last 10 updates, lower is better) for the
    Transformer; test accuracy (higher is better) for large-batch SGD. Noise: the larger seed
    spread (max - min) of the two variants compared. Adaptive *stalled* if its loss is more than
    STALLED above the best variant's; *diverged* if a seed diverged where the best did not.
    """
    variants = summary["variants"]
    accuracy = summary["family"] == "large_batch"
    key, spread_key = (("final_val_accuracy", "accuracy_spread") if accuracy
                       else ("final_train_loss", "spread"))
    fixed = {name: v for name, v in variants.items() if name != "adaptive" and v[key] is not None
             and not v["diverged_seeds"]}
    adaptive = variants.get("adaptive")
    if not fixed or adaptive is None:
        return {"text": "No verdict: no fixed warmup trained on every seed.", "within": None}
    best_name = (max if accuracy else min)(fixed, key=lambda n: fixed[n][key])
    best = fixed[best_name]
    if adaptive[key] is None or adaptive["diverged_seeds"]:
        return {"best": best_name, "within": False, "gap": None,
                "text": f"Adaptive diverged on {adaptive['diverged_seeds']} of {adaptive['seeds']} seeds "
                        f"where {best_name} trained ({_metric(best[key], accuracy)})."}
    gap = (best[key] - adaptive[key]) if accuracy else (adaptive[key] - best[key])
    noise = max(best[spread_key], adaptive[spread_key])
    within = gap <= noise
    text = (f"best fixed: {best_name} ({_metric(best[key], accuracy)}); adaptive "
            f"{_metric(adaptive[key], accuracy)}: ")
    if gap <= 0:
        text += f"as good or better (by {_metric(-gap, accuracy, delta=True)})"
    elif within:
        text += (f"worse by {_metric(gap, accuracy, delta=True)}, within the seed noise "
                 f"({_metric(noise, accuracy, delta=True)})")
    else:
        text += (f"worse by {_metric(gap, accuracy, delta=True)}, beyond the seed noise "
                 f"({_metric(noise, accuracy, delta=True)})")
    stalled = not accuracy and gap > STALLED
    if stalled:
        text += "; it stalled (a final loss far above the best)"
    return {"best": best_name, "gap": gap, "noise": noise, "within": within, "stalled": stalled,
            "text": text + "."}


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


def write_report(results: dict[str, Any], folder: Path, command: str) -> Path:
    """adaptive.json, adaptive.md and its figures in ``folder``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "adaptive.json", (json.dumps(results, indent=1) + "\n").encode())
    summaries = results["studies"]
    lines = [
        "# rampup demo: adaptive warmup against fixed warmups", "",
        f"Reproduce with `{command}`. One adaptive configuration for every case: shortest warmup "
        f"{MIN_FRACTION:.0%} of training, longest {MAX_FRACTION:.0%}, the default stability rule on "
        "the training loss and the gradient norm, the rest of the plan re-planned to end on time. "
        f"Seeds per variant: {results['seeds']}. Run time: {results['seconds'] / 60:.1f} minutes.", "",
    ]
    for summary in summaries:
        accuracy = summary["family"] == "large_batch"
        lines += [f"## {summary['label']}", "", f"{summary['total_steps']} updates per run.", ""]
        header = "| variant | what | final train loss (spread) |"
        header += " test accuracy (spread) |" if accuracy else ""
        header += " diverged | warmup updates |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for name, data in summary["variants"].items():
            row = (f"| {name} | {data['description']} | {_fmt(data['final_train_loss'], '.3f')} "
                   f"({_fmt(data['spread'], '.3f')}) |")
            if accuracy:
                row += (f" {_fmt(data['final_val_accuracy'], '.1%')} "
                        f"({_fmt(100 * data['accuracy_spread'], '.1f')} pts) |")
            warm = ", ".join(str(w) for w in data["warmup_updates"]) if data["warmup_updates"] else ""
            row += f" {data['diverged_seeds']}/{data['seeds']} | {warm} |"
            lines.append(row)
        lines += ["", f"**Result:** {summary['verdict']['text']}", ""]
        for seed in summary["variants"].get("adaptive", {}).get("per_seed", []):
            if seed["warmup"]:
                lines.append(f"- seed {seed['seed']}: {_describe(seed['warmup'])}")
        lines.append("")
    for family in ("transformer", "large_batch"):
        image = figure(summaries, family, folder)
        if image:
            lines += [f"![{image}]({image})", ""]
    goal = [s for s in summaries if s["verdict"].get("within") is not None]
    met = [s for s in goal if s["verdict"]["within"]]
    lines += [
        "## Summary", "",
        f"Adaptive is within the seed noise of the best fixed warmup (or better) in {len(met)} of "
        f"{len(goal)} cases." + ("" if len(met) == len(goal) else " Where not: " + "; ".join(
            f"{s['label']}: {s['verdict']['text'].rstrip('.')}" for s in goal
            if not s["verdict"]["within"]) + "."), "",
        "Final losses average the last 10 updates and are means over seeds; the spread is max - min "
        "over seeds; test accuracy is the last evaluation. A diverged seed (loss not finite or above "
        "1000) is left out of the means and counted. Warmup updates: the update at which the "
        "adaptive warmup reached the peak, per seed.", "",
    ]
    report = folder / "adaptive.md"
    write_atomic(report, "\n".join(lines).encode())
    return report


def _describe(warmup: dict[str, Any]) -> str:
    head = (f"warmup took {warmup['warmup_updates']} updates (bounds {warmup['min_warmup']}.."
            f"{warmup['max_warmup']}), held {warmup['held_updates']} updates, "
            f"{warmup['back_offs']} step-backs, {warmup['forced_updates']} forced")
    spans = []
    for e in warmup["events"][:12]:
        where = (f"{e['from_update']}" if e["from_update"] == e["to_update"]
                 else f"{e['from_update']}-{e['to_update']}")
        spans.append(f"{e['decision']} {where}")
    more = len(warmup["events"]) - 12
    return head + (" (" + ", ".join(spans) + (f", {more} more" if more > 0 else "") + ")" if spans else "")


# -- running ------------------------------------------------------------------------------------
def run_adaptive(options: Any, device: Any, rank: int) -> dict[str, Any]:
    """Train every study's variants over its seeds; rank 0 writes adaptive.md."""
    import time

    from rampup.demo.train import train

    began = time.perf_counter()
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
               "min_fraction": MIN_FRACTION, "max_fraction": MAX_FRACTION}
    if rank == 0:
        results["report"] = str(write_report(results, out, options.command))
    return results
