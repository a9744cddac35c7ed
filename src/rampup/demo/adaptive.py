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
how much. The verdicts and the report are :mod:`rampup.demo.adaptive_report`'s.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from rampup.adaptive import warmup_length
from rampup.demo import experiments as base
from rampup.demo.adaptive_report import rewrite_report, verdict, write_report
from rampup.demo.experiments import Experiment, Sizes, Variant
from rampup.demo.report import TAIL

MIN_FRACTION = 0.1  # the schedule's warmup phase: the shortest adaptive warmup
MAX_FRACTION = 0.5  # AdaptiveWarmup's default max_warmup
LM_RATES = (1e-3, 3e-3, 1e-2)
LM_WIDTH = 64  # half the demo's width (6 layers, context 64 as there), so the grid fits ~30 minutes
SCALES = (8, 16)
EPOCHS = 12  # large-batch runs: the demo's length (228 updates at k=8)
QUICK_SMALL_BATCH = 16  # --quick: batches of k x 16, so the tests stay fast
# Four seeds for every variant: with two, a range over seeds is too rough a noise estimate to
# judge gaps of a few hundredths (at 1e-3 the two-seed spreads were 0.02-0.06), and a stall that
# strikes one seed in four (the 100-update warmup at 1e-2, on seed 2) goes unseen. Large-batch SGD
# varies far more from seed to seed (at k=16 test accuracy 44% to 95% over the adaptive warmup's
# seeds, 55% to 86% over Goyal's).
LM_SEEDS = 4
SGD_SEEDS = 4


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
    lm_sizes = lm.quick if quick else Sizes(steps=200, seeds=LM_SEEDS, eval_every=50,
                                            extra={"width": LM_WIDTH})
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
    sgd_base = sgd.quick if quick else Sizes(steps=0, seeds=SGD_SEEDS, eval_every=19)
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


if __name__ == "__main__":
    import sys

    print(rewrite_report(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo/adaptive")))
