"""rampup's benchmarks: per-step cost, whole-curve time, memory and torch.compile, side by side.

    python benchmarks/bench.py            # full mode
    python benchmarks/bench.py --quick    # under a minute (CI-sized)

Contenders are measured in the same run, interleaved (A B C ... A B C ...), and reported as
medians and as ratios to the same-run floor; absolute times are only there to read the ratios.
Writes benchmarks/results/latest.md and latest.json and prints the tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contenders

import rampup
import rampup.torch as rt

WARMUP, TOTAL = 1_000, 100_000
FLOOR = "hand-written closure (floor)"
LRSCHED = "lrsched function + assignment loop"
# Not a scheduler: rampup's update hook plus an assignment loop, what counting updates costs at least.
BOUND = "lower bound: update hook + assignment loop"


def _available(table: dict[str, Callable[..., Any]]) -> tuple[dict[str, Callable[..., Any]], list[str]]:
    """The contenders whose package is installed; the others are listed as missing."""
    kept, missing = {}, []
    for name, build in table.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                build(contenders.optimizer(1), WARMUP, TOTAL)
            kept[name] = build
        except ImportError:
            missing.append(name)
    return kept, missing


def per_step(table: dict[str, Callable[..., Any]], groups: int, rounds: int, calls: int) -> dict[str, float]:
    """Median seconds per scheduler step, contenders interleaved round by round."""
    steps = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in table.items():
            steps[name] = build(contenders.optimizer(groups), WARMUP, TOTAL)
        samples: dict[str, list[float]] = {name: [] for name in table}
        # One untimed round first: the interpreter specialises each step's code on its first
        # calls, and the first contender timed must not pay for the machine warming up.
        for step in steps.values():
            for _ in range(calls):
                step()
        for _ in range(rounds):
            for name, step in steps.items():
                started = time.perf_counter()
                for _ in range(calls):
                    step()
                samples[name].append((time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def curve_times(table: dict[str, Callable[..., Any]], sizes: list[int], loop_steps: int,
                rounds: int) -> dict[str, Any]:
    """Time to produce a whole curve: vectorised, a plain numpy formula, and tutorial loops."""
    schedule = rampup.schedule("cosine", warmup_steps=WARMUP, total_steps=TOTAL)

    def numpy_formula(n: int) -> np.ndarray:
        t = np.arange(n, dtype=np.float64)
        progress = np.minimum(t - WARMUP, TOTAL - WARMUP) / (TOTAL - WARMUP)
        return np.where(t < WARMUP, t / WARMUP, 0.5 * (1.0 + np.cos(np.pi * progress)))

    out: dict[str, Any] = {"vectorised": {}, "numpy": {}, "loops": {}}
    for n in sizes:
        rampup_times, numpy_times = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            schedule(np.arange(n))
            rampup_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            numpy_formula(n)
            numpy_times.append(time.perf_counter() - started)
        out["vectorised"][n] = statistics.median(rampup_times)
        out["numpy"][n] = statistics.median(numpy_times)
    # The tutorial way: step a dummy optimizer n times and read the rate back each time.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in table.items():
            if name in (FLOOR, BOUND):
                continue
            opt = contenders.optimizer(1)
            step = build(opt, WARMUP, TOTAL)
            group = opt.param_groups[0]
            values = []
            started = time.perf_counter()
            for _ in range(loop_steps):
                step()
                values.append(group["lr"])
            out["loops"][name] = (time.perf_counter() - started) * (max(sizes) / loop_steps)
    out["loop_steps_measured"] = loop_steps
    return out


def memory(steps: int) -> dict[str, int]:
    """Bytes still allocated after ``steps`` more scheduler steps (tracemalloc): growth per run.

    Tracing starts before the first 1,000 steps, so that what a scheduler holds then is traced
    too: an object replaced by one of the same size later (a table of precomputed steps) counts
    as no growth, not as new memory whose predecessor was never seen.
    """
    out = {}
    for name, build in (("rampup Scheduler", contenders.rampup_cosine), (FLOOR, contenders.floor_cosine)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracemalloc.start()
            step = build(contenders.optimizer(8), WARMUP, 10 * steps)
            for _ in range(1_000):
                step()
            gc.collect()
            before = tracemalloc.take_snapshot()
            for _ in range(steps):
                step()
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
        out[name] = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return out


def compiled(steps: int, backend: str) -> dict[str, Any]:
    """A compiled training step calling optimizer.step(): graphs, recompiles, breaks, time."""
    from torch.optim.lr_scheduler import LambdaLR, LinearLR

    def transformers_style(opt: torch.optim.Optimizer) -> Any:
        from transformers import get_linear_schedule_with_warmup

        return get_linear_schedule_with_warmup(opt, steps, 2 * steps)

    cases: dict[str, tuple[Callable[[torch.optim.Optimizer], Any], bool]] = {
        "no scheduler (the optimizer alone), tensor lr": (lambda o: _NoScheduler(), True),
        "rampup, tensor lr": (lambda o: rt.Scheduler(o, rampup.schedule(
            "linear", warmup_steps=steps, total_steps=2 * steps)), True),
        "rampup, float lr": (lambda o: rt.Scheduler(o, rampup.schedule(
            "linear", warmup_steps=steps, total_steps=2 * steps)), False),
        "transformers LambdaLR, float lr": (transformers_style, False),
        "transformers LambdaLR, tensor lr": (transformers_style, True),
        "torch LinearLR, tensor lr": (lambda o: LinearLR(o, 0.01, 1.0, total_iters=steps), True),
        "torch LambdaLR, tensor lr": (lambda o: LambdaLR(o, lambda s: min(1.0, (s + 1) / steps)), True),
    }
    results = {}
    for name, (make, tensor) in cases.items():
        results[name] = _compiled_case(make, tensor, steps, backend)
    return results


class _NoScheduler:
    def step(self) -> None:
        pass


def _compiled_case(make: Callable[[torch.optim.Optimizer], Any], tensor: bool, steps: int,
                   backend: str) -> dict[str, Any]:
    """Run ``steps`` compiled optimizer steps; count graphs compiled after the first step."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    lr: Any = torch.tensor(1e-3) if tensor else 1e-3
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(opt)
    data = torch.randn(256, 64)
    compiled_graphs = [0]

    def counting_backend(graph: Any, example_inputs: Any) -> Any:
        compiled_graphs[0] += 1
        if backend == "inductor":
            from torch._inductor.compile_fx import compile_fx

            return compile_fx(graph, example_inputs)
        return graph.forward

    @torch.compile(backend=counting_backend)
    def optimizer_step() -> None:
        opt.step()

    times = []
    after_first = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index in range(steps):
            model(data).pow(2).mean().backward()
            started = time.perf_counter()
            optimizer_step()
            times.append(time.perf_counter() - started)
            if index == 0:
                after_first = compiled_graphs[0]
            opt.zero_grad()
            scheduler.step()
    return {
        "graphs": compiled_graphs[0],
        "recompiles": compiled_graphs[0] - after_first,
        "graph_breaks": sum(counters["graph_break"].values()),
        "steady_step_s": statistics.median(times[steps // 2:]),
    }


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x"


def render_per_step(results: dict[str, Any]) -> list[str]:
    """The per-step tables, one per schedule, as Markdown lines."""
    lines = []
    for schedule_name, table in results["per_step"].items():
        groups = list(table)
        names = list(table[groups[0]])
        lines += [f"## Per `scheduler.step()`: {schedule_name}", "",
                  "| contender | " + " | ".join(f"{g} group(s)" for g in groups) + " |",
                  "|---|" + "---:|" * len(groups)]
        for name in names:
            cells = []
            for g in groups:
                value, floor = table[g][name], table[g][FLOOR]
                cells.append(f"{value * 1e6:.2f} us ({_ratio(value, floor)})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def render(results: dict[str, Any]) -> str:
    lines = ["# rampup benchmarks", "",
             f"Mode: {results['mode']}. Machine: {results['machine']}. "
             "Medians of interleaved runs; ratios are to the floor measured in the same run.", ""]
    lines += render_per_step(results)
    curve = results["curve"]
    largest = max(curve["vectorised"], key=int)
    sizes = curve["vectorised"]
    lines += ["## A whole curve", "", "| way | " + " | ".join(f"{int(n):,} steps" for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    lines.append("| rampup `schedule(np.arange(n))` | " + " | ".join(
        f"{v * 1e3:.1f} ms ({_ratio(v, curve['numpy'][n])} numpy)" for n, v in sizes.items()) + " |")
    lines.append("| plain numpy formula | " + " | ".join(
        f"{v * 1e3:.1f} ms" for v in curve["numpy"].values()) + " |")
    lines += ["", f"Tutorial loop (step a dummy optimizer, read the rate), extrapolated to {int(largest):,} "
              f"steps from {curve['loop_steps_measured']:,} measured:", "",
              "| contender | time | vs rampup vectorised |", "|---|---:|---:|"]
    for name, value in curve["loops"].items():
        lines.append(f"| {name} | {value:.2f} s | {value / curve['vectorised'][largest]:.0f}x slower |")
    lines += ["", "## Memory", "", "Bytes still allocated after the steps (tracemalloc):", "",
              "| contender | growth |", "|---|---:|"]
    for name, value in results["memory"].items():
        lines.append(f"| {name} | {value} B over {results['memory_steps']:,} steps |")
    lines += ["", f"## torch.compile ({results['compile_backend']} backend, {results['compile_steps']} steps "
              "of a compiled `optimizer.step()` with AdamW)", "",
              "| case | graphs | recompiles | graph breaks | steady step |", "|---|---:|---:|---:|---:|"]
    for name, value in results["compile"].items():
        lines.append(f"| {name} | {value['graphs']} | {value['recompiles']} | {value['graph_breaks']} | "
                     f"{value['steady_step_s'] * 1e6:.0f} us |")
    alone = results["compile"].get("no scheduler (the optimizer alone), tensor lr", {}).get("graph_breaks")
    lines += ["", f"The optimizer alone already has {alone} graph breaks: torch's `Optimizer.step` inserts "
              "them on purpose (`_use_grad`, so that AOT sees a no-grad graph). A scheduler adds a break "
              "only where its row shows more than that.", "", "## Targets", ""]
    lines += [f"- {line}" for line in results["targets"]]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> list[str]:
    """Each target with its measured value: met, or missed by how much."""
    out = []
    cosine = results["per_step"]["cosine with warmup"]
    for groups, limit in (("1", 2.0), ("64", 1.3)):
        if groups not in cosine:
            continue
        ratio = cosine[groups]["rampup Scheduler"] / cosine[groups][FLOOR]
        others = {k: v for k, v in cosine[groups].items() if k not in (FLOOR, BOUND, "rampup Scheduler")}
        verdict = "met" if ratio <= limit else f"MISSED by {ratio / limit:.2f}x"
        line = f"per step, {groups} group(s): {ratio:.2f}x the floor (target <= {limit}x): {verdict}"
        if others:
            name = min(others, key=others.__getitem__)
            line += f"; fastest other contender {name}, {others[name] / cosine[groups][FLOOR]:.2f}x"
        out.append(line)
    out += bare_function_targets(results)
    curve = results["curve"]
    largest = max(curve["vectorised"], key=int)
    ratio = curve["vectorised"][largest] / curve["numpy"][largest]
    out.append(f"whole curve, {int(largest):,} steps: {ratio:.2f}x plain numpy (target <= 2x): "
               f"{'met' if ratio <= 2 else f'MISSED by {ratio / 2:.2f}x'}")
    hf = next((v for k, v in curve["loops"].items() if k.startswith("transformers")), None)
    if hf is not None:
        speedup = hf / curve["vectorised"][largest]
        line = (f"whole curve vs the transformers tutorial loop: {speedup:.0f}x faster (target >= 300x): "
                f"{'met' if speedup >= 300 else f'MISSED by {300 / speedup:.2f}x'}")
        if speedup < 300:
            needed = hf / 300
            faster = curve["numpy"][largest] / needed
            line += (f". Why: that loop costs {hf / int(largest) * 1e6:.1f} us per step here, so 300x "
                     f"would need the whole curve in {needed * 1e3:.1f} ms, {faster:.2f}x faster than the "
                     "plain numpy formula measured in the same run; rampup's curve is already within the "
                     "<= 2x-of-numpy target above, so the loop, not rampup, sets this ratio")
        out.append(line)
    growth = results["memory"]["rampup Scheduler"]
    out.append(f"memory: {growth} B growth over {results['memory_steps']:,} steps "
               f"(target: constant): {'met' if growth < 4096 else 'MISSED'}")
    compiled_case = results["compile"].get("rampup, tensor lr", {})
    recompiles = compiled_case.get("recompiles") or 0
    out.append(f"torch.compile: rampup with a tensor lr, {compiled_case.get('graphs')} graph(s), "
               f"{recompiles} recompilation(s) (target 0): {'met' if recompiles == 0 else 'MISSED'}")
    alone = results["compile"].get("no scheduler (the optimizer alone), tensor lr", {}).get("graph_breaks")
    added = compiled_case.get("graph_breaks", 0) - (alone or 0)
    out.append(f"torch.compile: graph breaks added by rampup: {added} (target 0): "
               f"{'met' if added == 0 else 'MISSED'}")
    return out


def bare_function_targets(results: dict[str, Any]) -> list[str]:
    """Issue 11: rampup's step (update counting, state, checks, clock) at most the cost of a bare
    function and assignment loop (lrsched's), in both per-step tables."""
    out = []
    for schedule_name, table in results["per_step"].items():
        for groups in ("1", "64"):
            row = table.get(groups, {})
            if LRSCHED not in row:
                continue
            ours, bare = row["rampup Scheduler"] / row[FLOOR], row[LRSCHED] / row[FLOOR]
            verdict = "met" if ours <= bare else f"MISSED by {ours / bare:.2f}x"
            line = (f"per step vs a bare function + assignment loop, {schedule_name}, {groups} "
                    f"group(s): rampup {ours:.2f}x the floor, lrsched {bare:.2f}x (target: rampup "
                    f"<= lrsched): {verdict}")
            if BOUND in row:
                line += (f"; counting updates alone (the hook and an assignment loop, no schedule) "
                         f"costs {row[BOUND] / row[FLOOR]:.2f}x")
            out.append(line)
    return out


def write(results: dict[str, Any], out: Path) -> str:
    """Targets, then latest.md and latest.json (latest-quick.* etc. for the short modes)."""
    results["targets"] = targets(results)
    text = render(results)
    out.mkdir(parents=True, exist_ok=True)
    stem = "latest" if results["mode"] == "full" else f"latest-{results['mode']}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Under a minute (fewer rounds, 100k steps).")
    parser.add_argument("--smoke", action="store_true", help="Seconds: checks the script only.")
    parser.add_argument("--per-step-only", action="store_true",
                        help="Only the per-step tables (in the mode's rounds), printed with their "
                        "targets against lrsched; writes no results file.")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    # Full mode: more interleaved rounds, so that a median moves less when other work shares the
    # machine (its 2 cores are shared); each round still runs 2000 steps of every contender.
    rounds, calls = {"smoke": (2, 50), "quick": (9, 400), "full": (41, 2000)}[mode]
    sizes = {"smoke": [10_000], "quick": [100_000], "full": [100_000, 1_000_000]}[mode]
    loop_steps = {"smoke": 500, "quick": 20_000, "full": 200_000}[mode]
    cosine, missing_cosine = _available(contenders.COSINE)
    wsd, missing_wsd = _available(contenders.WSD)
    results: dict[str, Any] = {
        "mode": mode,
        "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, "
                   f"numpy {np.__version__}",
        "missing_contenders": sorted(set(missing_cosine + missing_wsd)),
        "per_step": {"cosine with warmup": {}, "warmup + WSD (composed)": {}},
    }
    for groups in (1, 8, 64):
        print(f"per step, {groups} group(s) ...", flush=True)
        results["per_step"]["cosine with warmup"][str(groups)] = per_step(cosine, groups, rounds, calls)
        results["per_step"]["warmup + WSD (composed)"][str(groups)] = per_step(wsd, groups, rounds, calls)
    if args.per_step_only:
        targets_met = [f"- {line}" for line in bare_function_targets(results)]
        print("\n".join([*render_per_step(results), *targets_met]))
        return results
    print("whole curves ...", flush=True)
    results["curve"] = curve_times(cosine, sizes, loop_steps, 3 if mode != "full" else 7)
    results["memory_steps"] = {"smoke": 2_000, "quick": 20_000, "full": 100_000}[mode]
    print("memory ...", flush=True)
    results["memory"] = memory(results["memory_steps"])
    results["compile_backend"] = "eager" if mode != "full" else "inductor"
    results["compile_steps"] = {"smoke": 6, "quick": 20, "full": 50}[mode]
    print(f"torch.compile ({results['compile_backend']}) ...", flush=True)
    results["compile"] = compiled(results["compile_steps"], results["compile_backend"])
    text = write(results, Path(args.out))
    print(text)
    return results


if __name__ == "__main__":
    main()
