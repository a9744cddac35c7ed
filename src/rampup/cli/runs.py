"""The commands that train: ``demo`` (the experiments) and ``find-lr`` (the range test on a demo
model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rampup.cli.building import _named
from rampup.cli.output import _image_path, _print_table
from rampup.cli.params import REAL, STEPS, StepCount, _fail
from rampup.errors import MissingDependencyError
from rampup.schedules import Schedule


@click.command("demo")
@click.option("--experiment", "experiments", multiple=True,
              help="transformer or large_batch (repeat for both; default both); not run by default: "
                   "probe (the range-test and critical-rate experiment), wsd (cooldowns branched from "
                   "one constant-rate run vs cosine runs, about 10 minutes), adaptive (adaptive "
                   "warmup against fixed warmups, about 30 minutes).")
@click.option("--seeds", type=int, help="Seeds per variant (default: 2; 1 with --quick).")
@click.option("--steps", type=int, help="Optimizer steps per run (large_batch: of the large-batch runs).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--out", default="runs/demo", show_default=True, metavar="FOLDER",
              help="Folder for report.md, results.json, figures and checkpoints.")
@click.option("--quick", is_flag=True, help="Tiny models and few steps: under a minute, for tests.")
@click.option("--resume", is_flag=True, help="Continue every run from its last checkpoint in --out.")
@click.option("--checkpoint-every", type=int, default=50, show_default=True,
              help="Write a checkpoint every N steps (0: never).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--schedule", "custom_name", help="Also run your own schedule (a name, see 'rampup list').")
@click.option("--warmup", help="Warmup of --schedule: steps, a share (10%) or epochs (2ep).")
@click.option("--min-lr-ratio", type=REAL, help="Floor of --schedule as a fraction of the peak.")
@click.option("--cycles", type=REAL, help="Cosine cycles of --schedule.")
@click.option("--power", type=REAL, help="Polynomial power of --schedule.")
@click.option("-O", "--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Any other option of --schedule.")
def demo_command(experiments: tuple[str, ...], seeds: int | None, steps: int | None, device: str,
                 out: str, quick: bool, resume: bool, checkpoint_every: int, no_progress: bool,
                 custom_name: str | None, **schedule_options: Any) -> None:
    """Train real models with and without warmup and write a report.

    \b
    Two experiments, each over several seeds: a Post-LN Transformer language model with AdamW
    (no warmup vs linear warmup vs the untuned 2/(1-beta2) rule), and large-batch SGD with the
    linear scaling rule (small-batch baseline vs no, constant and gradual warmup). Runs on one
    process, or on N with torchrun. Nothing is downloaded.

    \b
    Examples:
      rampup demo                       # about 4 minutes on 2 CPU cores
      rampup demo --quick --out runs/quick
      rampup demo --experiment transformer --schedule wsd --warmup 20%
      rampup demo --resume              # continue an interrupted run
      torchrun --nproc_per_node 2 -m rampup demo --quick
    """
    try:
        from rampup.demo import DemoOptions, run_demo
    except ImportError as error:
        raise MissingDependencyError(
            f"rampup demo needs {error.name or 'torch'} and the rest of the demo extra: "
            "pip install 'rampup[demo]'"
        ) from None

    custom = None
    if custom_name:
        _named(custom_name, {**schedule_options, "total": 100})  # fail now on bad options

        def custom(total: int, per_epoch: int) -> Schedule:
            return _named(custom_name, {**schedule_options, "total": total, "steps_per_epoch": per_epoch})
    elif any(v for v in schedule_options.values()):
        _fail("--warmup, --min-lr-ratio, --cycles, --power and -O describe --schedule: give --schedule")
    argv = (click.get_current_context().obj or {}).get("argv")
    if argv is None:
        argv = sys.argv[1:]
    command = " ".join(["rampup", *argv])
    options = DemoOptions(
        experiments=experiments or ("transformer", "large_batch"), seeds=seeds, steps=steps,
        device=device, out=Path(out), quick=quick, resume=resume, checkpoint_every=checkpoint_every,
        progress=not no_progress, custom=custom, command=command.strip(),
    )
    results = run_demo(options)
    if "adaptive" in results and "report" in results["adaptive"]:
        for study in results["adaptive"]["studies"]:
            click.echo(f"{study['label']}: {study['verdict']['text']}")
        click.echo(f"report: {results['adaptive']['report']}")
    if "wsd_report" in results:
        from rampup.demo.wsd import verdict as wsd_verdict

        click.echo(f"wsd: {wsd_verdict(results['wsd'])}")
        click.echo(f"report: {results['wsd_report']}")
    if "report" not in results:
        return
    for name, result in results.get("probe", {}).get("models", {}).items():
        for line in result["verdicts"]:
            click.echo(f"probe/{name}: {line}")
    if not results["experiments"]:
        click.echo(f"report: {results['report']}")
        return
    rows = []
    for name, result in results["experiments"].items():
        for variant, data in result["variants"].items():
            accuracy = data["final_val_accuracy"]
            rows.append([name, variant, _loss(data["final_train_loss"]), _loss(data["final_val_loss"]),
                         "-" if accuracy is None else f"{accuracy:.1%}",
                         f"{data['diverged_seeds']}/{data['seeds']}"])
    click.echo("")
    _print_table(["name", "variant", "train loss", "val loss", "val acc", "diverged"], rows)
    from rampup.demo.report import verdict

    for name, result in results["experiments"].items():
        click.echo(f"{name}: {verdict(name, result)}")
    click.echo(f"report: {results['report']}")


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.command("find-lr")
@click.option("--model", "model_name", default="transformer", show_default=True,
              help="The demo's model: transformer (Post-LN, AdamW) or large_batch (ResNet, SGD, batch 1024).")
@click.option("--seed", type=StepCount(0), default=0, show_default=True, help="Data order of the sweep.")
@click.option("--steps", type=STEPS, default=100, show_default=True, help="Updates in the sweep.")
@click.option("--min-lr", type=REAL, default=1e-7, show_default=True, help="First rate of the sweep.")
@click.option("--max-lr", type=REAL, default=10.0, show_default=True, help="Last rate of the sweep.")
@click.option("--critical", is_flag=True, help="Also find the critical rate (where warmup can start).")
@click.option("-o", "--output", help="The figure to write (default find-lr-MODEL.png).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--quick", is_flag=True, help="The demo's tiny model and data (seconds, for tests).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def find_lr_command(model_name: str, seed: int, steps: int, min_lr: float, max_lr: float, critical: bool,
                    output: str | None, device: str, quick: bool, as_json: bool) -> None:
    """Run rampup's learning-rate range test on one of the demo's models and draw it.

    \b
    The rate grows exponentially from --min-lr to --max-lr over --steps updates; the model,
    optimizer and random state are restored afterwards. The suggestion is where the smoothed
    loss has made 90% of its fall to the bottom of its descent (see rampup.suggest); the figure
    shows the curve, the descent and the suggestion. Nothing is downloaded.

    \b
    Examples:
      rampup find-lr --model transformer -o transformer.png
      rampup find-lr --model large_batch --critical
    """
    if model_name not in ("transformer", "large_batch"):
        _fail(f"--model must be transformer or large_batch, got {model_name!r}")
    path, _ = _image_path(output or f"find-lr-{model_name}.png")
    if device not in ("auto", "cpu", "cuda"):
        _fail(f"--device must be auto, cpu or cuda, got {device!r}")
    try:
        import torch

        from rampup.demo.probe import loss_fn, probe_setup
        from rampup.torch import critical_lr, find_lr
    except ImportError as error:
        raise MissingDependencyError(
            f"rampup find-lr needs {error.name or 'torch'} and the rest of the demo extra: "
            "pip install 'rampup[demo]'"
        ) from None

    if device == "cuda" and not torch.cuda.is_available():
        _fail("--device cuda: no CUDA device is available")
    chosen = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available())
                          else "cpu")
    setup = probe_setup(model_name, quick=quick, cache=Path("runs/demo/.cache"), device=chosen)
    model = setup.model(0)
    optimizer = setup.optimizer(model)
    result = find_lr(model, optimizer, loss_fn, setup.batches(seed, steps) if steps >= 10 else [],
                     min_lr=min_lr, max_lr=max_lr, steps=steps)
    probe = None
    if critical:
        probe = critical_lr(model, optimizer, loss_fn, setup.batches(seed + 1, 5), min_lr=min_lr,
                            max_lr=max_lr)
    result.plot(path, title=f"range test: demo {model_name} ({setup.experiment.title})")
    if as_json:
        data = result.to_dict()
        if probe is not None:
            data["critical"] = probe.to_dict()
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(str(result))
    if probe is not None:
        click.echo(str(probe))
        if probe.rate is not None and result.suggestion is not None:
            start = probe.start_fraction(result.suggestion)
            click.echo(f"warmup to {result.suggestion:.3g} can start at {start:.3g} of it: "
                       f"rampup.Warmup(steps=..., start={start:.3g})")
    click.echo(f"wrote {path}")
