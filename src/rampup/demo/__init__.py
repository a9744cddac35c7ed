"""The demo: train real models with and without warmup, on one process or many, and report.

``rampup demo`` (and ``make demo``) runs it; ``torchrun --nproc_per_node N -m rampup demo`` runs
the same thing on N processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rampup.demo.experiments import EXPERIMENTS, Experiment, Sizes, Variant
from rampup.errors import OptionError
from rampup.schedules import Schedule

__all__ = ["EXPERIMENTS", "EXTRA_EXPERIMENTS", "DemoOptions", "run_demo"]

# Run only when asked for by name (not part of the default demo): name -> what it measures.
EXTRA_EXPERIMENTS = {
    "probe": "rampup's range test and critical rate against a grid and two other finders "
             "(rampup.demo.probe; about 15 minutes on 2 cores, longer when they are shared)",
    "adaptive": "adaptive warmup against fixed warmups over several rates and batch scalings "
                "(rampup.demo.adaptive; about 30 minutes on 2 cores)",
    "wsd": "cooldowns branched from one constant-rate run against cosine runs of the same lengths "
           "(rampup.demo.wsd; about 10 minutes on 2 cores)",
}


@dataclass(frozen=True)
class DemoOptions:
    """Everything ``rampup demo`` can be told."""

    experiments: Sequence[str] = ("transformer", "large_batch")
    seeds: int | None = None
    steps: int | None = None
    device: str = "auto"
    out: Path = Path("runs/demo")
    quick: bool = False
    resume: bool = False
    checkpoint_every: int = 50
    progress: bool = True
    custom: Callable[[int, int], Schedule] | None = None  # (total, steps per epoch) -> schedule
    command: str = "rampup demo"


def check_options(options: DemoOptions) -> None:
    """Reject bad options before anything is written (OptionError naming the option)."""
    for name in options.experiments:
        if name not in EXPERIMENTS and name not in EXTRA_EXPERIMENTS:
            raise OptionError(
                f"--experiment must be one of {', '.join([*EXPERIMENTS, *EXTRA_EXPERIMENTS])}, got {name!r}"
            )
    if "probe" in options.experiments and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise OptionError("--experiment probe runs on one process, not under torchrun")
    if options.resume and "wsd" in options.experiments:
        raise OptionError("--resume: the wsd experiment keeps its checkpoints in memory; run it again")
    if options.seeds is not None and options.seeds < 1:
        raise OptionError(f"--seeds must be >= 1, got {options.seeds}")
    if options.steps is not None and options.steps < 1:
        raise OptionError(f"--steps must be >= 1, got {options.steps}")
    if options.checkpoint_every < 0:
        raise OptionError(f"--checkpoint-every must be >= 0, got {options.checkpoint_every}")
    if options.device not in ("auto", "cpu", "cuda"):
        raise OptionError(f"--device must be auto, cpu or cuda, got {options.device!r}")
    if "\0" in str(options.out):
        raise OptionError(f"--out {str(options.out)[:80]!r}: not a folder name")
    try:
        is_file = options.out.exists() and not options.out.is_dir()
    except OSError as error:  # a name too long ...
        shown = str(options.out)[:80]
        raise OptionError(f"--out {shown!r}: not a usable folder ({error.strerror})") from None
    if is_file:
        raise OptionError(f"--out must be a folder, but {options.out} is a file")
    if options.resume and not (options.out / "checkpoints").is_dir():
        raise OptionError(
            f"--resume: no checkpoints in {options.out / 'checkpoints'}; run without --resume first"
        )


def _device(choice: str) -> Any:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA device is available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", _environment_int("LOCAL_RANK", 0))
    return torch.device(choice)


def _environment_int(name: str, default: int) -> int:
    """An integer set by torchrun (LOCAL_RANK, WORLD_SIZE), or ``default`` when unset."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise OptionError(f"the environment variable {name} must be an integer, got {text[:40]!r}") from None


def _start_processes(device: Any) -> bool:
    """Join the torchrun process group if launched by torchrun; True if this call started it."""
    import torch.distributed as dist

    if _environment_int("WORLD_SIZE", 1) <= 1 or dist.is_initialized():
        return False
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def run_demo(options: DemoOptions) -> dict[str, Any]:
    """Run the chosen experiments; rank 0 writes results.json and report.md into ``options.out``."""
    check_options(options)
    import torch
    import torch.distributed as dist

    from rampup.demo.report import aggregate, write_report
    from rampup.demo.train import train, world

    device = _device(options.device)
    started = _start_processes(device)
    rank, size = world()
    if size > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
    results: dict[str, Any] = {"world_size": size, "quick": options.quick, "command": options.command,
                               "machine": _machine(device, size), "experiments": {}}
    try:
        if "wsd" in options.experiments:  # its own driver: one run, branched (rampup.demo.wsd)
            from rampup.demo.wsd import run_wsd, sizes_for

            results["wsd"] = run_wsd(sizes_for(options.quick, options.steps, options.seeds), device,
                                     options.out, options.command, options.progress)
            if rank == 0:
                results["wsd_report"] = str(options.out / "wsd.md")
        for name in options.experiments:
            if name == "adaptive":  # adaptive warmup vs fixed warmups: its own grid and report
                from rampup.demo.adaptive import run_adaptive

                results["adaptive"] = run_adaptive(options, device, rank)
                continue
            if name in EXTRA_EXPERIMENTS:
                continue
            experiment = EXPERIMENTS[name]()
            sizes = experiment.quick if options.quick else experiment.sizes
            sizes = Sizes(steps=options.steps or sizes.steps, seeds=options.seeds or sizes.seeds,
                          eval_every=sizes.eval_every, extra=sizes.extra)
            variants = list(experiment.variants)
            if options.custom is not None:
                reference = variants[-1]
                variants.append(Variant("custom", "the schedule given on the command line",
                                        reference.batch_size, reference.peak_lr, options.custom))
            experiment.variants = variants
            data = experiment.make_data(sizes, options.out / ".cache")
            runs: dict[str, list[Any]] = {}
            per_epoch: dict[str, int] = {}
            for variant in variants:
                per_epoch[variant.name] = experiment.steps_per_epoch(data, variant.batch_size)
                for seed in range(sizes.seeds):
                    checkpoint = options.out / "checkpoints" / f"{name}-{variant.name}-seed{seed}.pt"
                    if rank == 0:
                        checkpoint.parent.mkdir(parents=True, exist_ok=True)
                    record = train(
                        experiment, variant, data, sizes, seed, device,
                        checkpoint=checkpoint, checkpoint_every=options.checkpoint_every,
                        resume=options.resume, progress=options.progress,
                    )
                    runs.setdefault(variant.name, []).append(record)
                    if rank == 0 and options.progress:
                        _say_done(experiment, record)
            results["experiments"][name] = aggregate(experiment, runs, per_epoch)
        if rank == 0 and results["experiments"]:
            report = write_report(results, options.out, options.command)
            results["report"] = str(report)
        if "probe" in options.experiments:
            from rampup.demo.probe import run_probe

            results["probe"] = run_probe(options.out / "probe", quick=options.quick, device=device,
                                         progress=options.progress, command=options.command,
                                         cache=options.out / ".cache")
            results.setdefault("report", results["probe"]["report"])
    finally:
        if started:
            dist.destroy_process_group()
    return results


def _machine(device: Any, processes: int) -> str:
    """Where the numbers were made, for the report: they depend on it (threads, kernels)."""
    import platform

    import torch

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads per process)")
    return (f"{platform.machine()}, {where}, {processes} process(es), Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def _say_done(experiment: Experiment, record: Any) -> None:
    final = "diverged" if record.diverged else f"final loss {record.train_loss[-1]:.3f}"
    print(f"  {experiment.name}/{record.variant} seed {record.seed}: {final} "
          f"({record.seconds:.1f} s)", flush=True)
