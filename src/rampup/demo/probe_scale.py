"""Where the best peak rate lies relative to the range test's suggestion, on three model/optimizer pairs.

``python -m rampup.demo.probe_scale OUT`` (``make demo-probe-scale``; about 15 minutes on 2 cores,
``--quick`` for tests). Not part of ``rampup demo``: it backs one statement of the probe guide.

For each pair (the demo's Post-LN Transformer with AdamW, its large-batch ResNet with momentum SGD,
and the same ResNet with AdamW): rampup's ``find_lr`` on 3 data orders (the probe experiment's)
gives the median suggestion ``s``; short runs (the probe experiment's: 10% linear warmup, then
cosine to 10%) at ``m * s`` for each multiple ``m`` are trained with several seeds and scored
by their median final loss. The multiples are the same for every pair, fixed before the runs.
Seeds are many because on the ResNet one run's final loss varies by 2x between seeds at a fixed
rate: the probe experiment's three seeds cannot tell neighbouring rates apart there.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from rampup._files import write_atomic
from rampup.demo.probe import (
    FULL,
    QUICK,
    ProbeSizes,
    Setup,
    median_rate,
    probe_setup,
    rampup_sweep,
    train_at,
)
from rampup.demo.probe_report import median_of
from rampup.errors import RampupError, check_int

__all__ = ["MULTIPLES", "PAIRS", "report", "run_probe_scale"]

# name -> (demo model, optimizer: None for the demo's own, seeds per rate, title)
PAIRS: dict[str, tuple[str, str | None, int, str]] = {
    "transformer-adamw": ("transformer", None, 6,
                          "Post-LN Transformer language model, the demo's AdamW"),
    "resnet-sgd": ("large_batch", None, 10,
                   "Large-batch ResNet1D (batch 1024), the demo's momentum SGD"),
    "resnet-adamw": ("large_batch", "adamw", 10,
                     "Large-batch ResNet1D (batch 1024), AdamW (weight decay 0.01, default betas)"),
}
MULTIPLES = (1.0, 1.5, 2.0, 3.0)
QUICK_MULTIPLES = (1.0, 2.0)


def _adamw(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def _setup(pair: str, quick: bool, cache: Path) -> Setup:
    model, optimizer, _, _ = PAIRS[pair]
    setup = probe_setup(model, quick=quick, cache=cache)
    if optimizer == "adamw":
        setup.experiment = dataclasses.replace(setup.experiment, make_optimizer=_adamw)
    return setup


_SETUPS: dict[tuple[str, bool], Setup] = {}


def _train(job: tuple[str, bool, str, float, float, int, int]) -> dict[str, Any]:
    """One run in a worker process (each worker builds every setup once)."""
    pair, quick, cache, multiple, lr, seed, steps = job
    torch.set_num_threads(1)
    key = (pair, quick)
    if key not in _SETUPS:
        _SETUPS[key] = _setup(pair, quick, Path(cache))
    run = train_at(_SETUPS[key], lr, seed, steps)
    return {"pair": pair, "multiple": multiple, "lr": lr, "seed": seed,
            "final_loss": run["final_loss"], "diverged": run["diverged"]}


def run_probe_scale(out: Path, *, quick: bool = False, workers: int = 2,
                    cache: Path | None = None) -> dict[str, Any]:
    """Measure every pair; writes ``results.json`` and ``report.md`` to ``out``."""
    workers = check_int("workers", workers, minimum=1)
    sizes: ProbeSizes = QUICK if quick else FULL
    multiples = QUICK_MULTIPLES if quick else MULTIPLES
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    cache = cache or folder / ".cache"
    began = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "multiples": list(multiples), "orders": sizes.seeds,
                               "pairs": {}}
    jobs = []
    for pair, (model, _, seeds, title) in PAIRS.items():
        setup = _setup(pair, quick, cache)
        sweeps = [rampup_sweep(setup, s, sizes) for s in range(sizes.seeds)]
        suggestion = median_rate([r.suggestion for r in sweeps])  # as the probe experiment's
        count = 2 if quick else seeds
        results["pairs"][pair] = {
            "title": title,
            "suggestions": [r.suggestion for r in sweeps],
            "bottoms": [r.details.minimum_lr for r in sweeps],
            "suggestion": suggestion, "seeds": count, "runs": [],
        }
        print(f"{pair}: suggestions {[r.suggestion for r in sweeps]}", flush=True)
        if suggestion is None:
            continue
        steps = sizes.run_steps[model]
        jobs += [(pair, quick, str(cache), m, m * suggestion, seed, steps)
                 for m in multiples for seed in range(count)]
    with contextlib.ExitStack() as stack:
        if workers > 1:  # spawned, not forked: a fork of a process running other threads can hang
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")))
            done: Iterable[dict[str, Any]] = pool.map(_train, jobs)
        else:
            done = map(_train, jobs)
        for run in done:
            results["pairs"][run["pair"]]["runs"].append(run)
            print(f"{run['pair']}: {run['lr']:.3g} seed {run['seed']} -> {run['final_loss']}", flush=True)
    for data in results["pairs"].values():
        data["by_multiple"] = []
        for m in multiples:
            lr = None if data["suggestion"] is None else m * data["suggestion"]
            losses = [r["final_loss"] for r in data["runs"] if r["multiple"] == m]
            # a diverged run counts as worse than any loss, as in the probe experiment
            data["by_multiple"].append({"multiple": m, "lr": lr, "losses": losses,
                                        "median": median_of(losses)})
    results["seconds"] = time.perf_counter() - began
    write_atomic(folder / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    write_atomic(folder / "report.md", report(results).encode())
    return results


def report(results: dict[str, Any]) -> str:
    """The report: per pair, the median loss at each multiple of the suggestion, and what it shows."""
    lines = ["# Where the best peak rate lies relative to the range test's suggestion", "",
             "Reproduce with `make demo-probe-scale` "
             f"({results['seconds'] / 60:.1f} minutes on 2 cores). rampup's `find_lr` on "
             f"{results['orders']} data orders gives the median suggestion `s`; short runs (10% "
             "linear warmup, then cosine to 10%, as in the probe experiment) at multiples of `s` "
             "are trained with several seeds (initial weights and data order) and scored by "
             "their median final training loss (mean of the last 10 updates). The multiples were "
             "fixed before the runs.", ""]
    for data in results["pairs"].values():
        lines += [f"## {data['title']}", ""]
        if data["suggestion"] is None:
            lines += ["No suggestion (no usable descent on any data order).", ""]
            continue
        bottoms = [b for b in data["bottoms"] if b is not None]
        lines += [f"Suggestions {', '.join(f'{v:.3g}' for v in data['suggestions'] if v)}; median "
                  f"`s` = {data['suggestion']:.3g}; the bottom of the sweep's descent at "
                  f"{', '.join(f'{v:.3g}' for v in bottoms)}. {data['seeds']} seeds per rate.", "",
                  "| multiple of s | rate | median loss | / best median | losses per seed |",
                  "|---|---|---|---|---|"]
        scored = [row for row in data["by_multiple"] if row["median"] is not None]
        best = min(scored, key=lambda row: row["median"]) if scored else None
        for row in data["by_multiple"]:
            ratio = (f"{row['median'] / best['median']:.2f}" if best and row["median"] is not None
                     else "-")
            per_seed = ", ".join("div" if v is None else f"{v:.3f}" for v in row["losses"])
            median = "-" if row["median"] is None else f"{row['median']:.3f}"
            lines.append(f"| {row['multiple']:g} | {row['lr']:.3g} | {median} | {ratio} | {per_seed} |")
        lines.append("")
        if best is not None:
            at_one = next(row for row in data["by_multiple"] if row["multiple"] == 1.0)
            ratio_one = (at_one["median"] / best["median"]) if at_one["median"] is not None else None
            said = ("diverged or had no finite loss" if ratio_one is None
                    else f"ends at {ratio_one:.2f}x the best median")
            lines += [f"Best median at {best['multiple']:g} x s ({best['lr']:.3g}); training at the "
                      f"suggestion itself {said}.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rampup.demo.probe_scale", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("runs/probe-scale"))
    parser.add_argument("--quick", action="store_true", help="tiny models and runs, for tests")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    try:
        run_probe_scale(args.out, quick=args.quick, workers=args.workers)
    except RampupError as error:  # bad input: a usage message, not a traceback
        parser.error(str(error))


if __name__ == "__main__":
    main()
