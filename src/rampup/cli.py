"""The ``rampup`` command line: preview, compare and tabulate schedules before training.

Exit codes: 0 on success, 2 on a usage error (one line naming the bad option or value), 1 on any
other error. matplotlib is imported only when an image is written.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from rampup import __version__
from rampup.config import load, save, write_atomic
from rampup.durations import linear_scaling, resolve_duration, sqrt_scaling, training_steps
from rampup.errors import RampupError, ScheduleValueError
from rampup.names import REGISTRY
from rampup.names import schedule as named_schedule
from rampup.schedules import Schedule


class UsageProblem(click.UsageError):
    """A bad option value, reported on one line with exit code 2."""


def _fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if "," in text:
        return [_parse_value(part) for part in text.split(",") if part]
    return text


def _parse_pairs(pairs: Sequence[str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"{where} expects KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return out


def _schedule_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by plot, compare and table (mirroring the Python API)."""
    decorators = [
        click.option("--total", type=int, help="Total optimizer steps (num_training_steps)."),
        click.option("--warmup", help="Warmup: steps (500), a share of --total (5%) or epochs (2ep)."),
        click.option("--lr", type=float, help="Peak learning rate; the values become absolute rates."),
        click.option("--min-lr", type=float, help="Final (floor) rate, absolute; needs --lr."),
        click.option("--min-lr-ratio", type=float, help="Final (floor) rate as a fraction of the peak."),
        click.option("--cycles", type=float, help="Cosine cycles (num_cycles)."),
        click.option("--power", type=float, help="Polynomial power."),
        click.option("--steps-per-epoch", type=int, help="Optimizer steps per epoch (for 'ep' units)."),
        click.option("-O", "--option", "extra", multiple=True, metavar="KEY=VALUE",
                     help="Any other option of the schedule, e.g. -O num_decay_steps=2000."),
        click.option("--config", type=click.Path(dir_okay=False),
                     help="A schedule file (YAML or JSON, to_dict form) instead of NAME."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def build(name: str | None, options: dict[str, Any]) -> tuple[Schedule, int]:
    """The schedule and the number of steps to show, from NAME and the shared options."""
    total = options.get("total")
    if total is not None and total < 1:
        _fail(f"--total must be >= 1, got {total}")
    spe = options.get("steps_per_epoch")
    if spe is not None and spe < 1:
        _fail(f"--steps-per-epoch must be >= 1, got {spe}")
    lr = options.get("lr")
    if lr is not None and not lr > 0:
        _fail(f"--lr must be > 0, got {lr}")
    config = options.get("config")
    if config:
        if name:
            _fail("give either NAME or --config, not both")
        path = Path(config)
        if not path.is_file():
            _fail(f"--config: no such file: {config}")
        schedule = load(path)
    else:
        if not name:
            _fail("give a schedule NAME (see 'rampup list') or --config FILE")
        schedule = _named(name, options)
    if total is None:
        total = schedule.horizon
        if total is None:
            _fail("this schedule keeps changing: give --total to choose how many steps to show")
        if total == 0:
            _fail("this schedule never changes: give --total to choose how many steps to show")
    return schedule, total


def _named(name: str, options: dict[str, Any]) -> Schedule:
    if name not in REGISTRY:
        named_schedule(name)  # raises the unknown-name error with a suggestion
    valid = REGISTRY[name].all_options()
    kwargs = _parse_pairs(options.get("extra") or (), "-O/--option")
    lr = options.get("lr")

    def put(flag: str, value: Any, *keys: str) -> None:
        if value is None:
            return
        for key in keys:
            if key in valid:
                kwargs[key] = value
                return
        _fail(f"{flag} does not apply to {name!r}; its options: {', '.join(valid) or 'none'}")

    put("--cycles", options.get("cycles"), "num_cycles", "cycles")
    put("--power", options.get("power"), "power")
    put("--min-lr-ratio", options.get("min_lr_ratio"), "min_lr_ratio", "min_lr_rate")
    min_lr = options.get("min_lr")
    if min_lr is not None:
        if lr is None:
            _fail("--min-lr is an absolute rate: give --lr too, or use --min-lr-ratio")
        if "min_lr" in valid:
            kwargs["min_lr"] = min_lr
        elif "lr_end" in valid:
            kwargs["lr_end"] = min_lr
        else:
            put("--min-lr", min_lr / lr, "min_lr_ratio")
    if lr is not None and "peak_lr" in valid:
        kwargs.setdefault("peak_lr", lr)
    warmup = options.get("warmup")
    parsed_warmup: Any = None
    if warmup is not None:
        parsed_warmup = int(warmup) if warmup.isdigit() else warmup
    return named_schedule(
        name, warmup=parsed_warmup, total_steps=options.get("total"),
        steps_per_epoch=options.get("steps_per_epoch"), **kwargs,
    )


def _terminal_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _use_rich() -> bool:
    return sys.stdout.isatty()


def _print_table(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    if _use_rich():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for header in headers:
            table.add_column(header, justify="right" if header != "name" else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        click.echo(title)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _image_path(output: str) -> Path:
    path = Path(output)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        _fail(f"-o/--output must end in .png, .svg or .pdf, got {output!r}")
    if path.is_dir():
        _fail(f"-o/--output is a folder: {output}")
    return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rampup")
def cli() -> None:
    """rampup: learning-rate warmup and schedules, previewed before training.

    \b
    Examples:
      rampup list
      rampup plot cosine --total 10000 --warmup 5%
      rampup plot warmup_cosine --total 10000 --warmup 500 --lr 3e-4 -o cosine.png
      rampup compare linear cosine wsd --total 10000 --warmup 500 -o cmp.png
      rampup table cosine --total 1000 --warmup 100 --at 0,99,100,999 --csv rates.csv
      rampup steps --epochs 3 --dataset-size 10000 --batch-size 32 --grad-accum 4 --warmup 10%
      rampup scale --base-lr 0.1 --base-batch 256 --batch 8192
    """


@cli.command("plot")
@click.argument("name", required=False)
@_schedule_options
@click.option("-o", "--output", help="Write a figure (.png, .svg or .pdf) instead of a text plot.")
@click.option("--max-warmup", help="Also show an adaptive warmup's bounds: its longest warmup "
              "(updates or a share of --total, e.g. 30%); the schedule's warmup is the shortest.")
def plot_command(name: str | None, output: str | None, max_warmup: str | None, **options: Any) -> None:
    """Draw one schedule: in the terminal, or as an image with -o.

    \b
    Examples:
      rampup plot cosine --total 10000 --warmup 500
      rampup plot goyal --warmup 5ep --steps-per-epoch 500 -O milestones=30ep,60ep,80ep \\
          --total 45000 -o goyal.png
      rampup plot --config schedule.yaml --total 5000
    """
    schedule, total = build(name, options)
    label = name or Path(options["config"]).name
    bounds = _adaptive_bounds(schedule, total, max_warmup, options.get("lr"))
    if output:
        from rampup.plot import Curve, save_figure

        curves = [Curve(label, schedule)]
        if bounds is not None and max_warmup is not None:
            from rampup.adaptive import planned_bounds

            shortest, longest, latest = planned_bounds(schedule, total, _max_warmup(max_warmup))
            curves = [Curve(f"{label} (adaptive warmup at its shortest, {shortest} updates)", schedule),
                      Curve(f"adaptive warmup at its longest ({longest} updates)", latest)]
        path = save_figure(curves, total, _image_path(output),
                           peak_lr=options.get("lr"), steps_per_epoch=options.get("steps_per_epoch"))
        click.echo(f"wrote {path}")
        return
    from rampup.plot import text_plot

    click.echo(f"{label}: {total} steps")
    click.echo(text_plot(schedule, total, width=min(_terminal_width(), 120), peak_lr=options.get("lr")))
    if bounds is not None:
        click.echo(bounds)


def _max_warmup(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text.strip()


def _adaptive_bounds(schedule: Schedule, total: int, max_warmup: str | None, lr: float | None) -> str | None:
    """The planned bounds of an adaptive warmup (--max-warmup), checked before anything is drawn."""
    if max_warmup is None:
        return None
    from rampup.adaptive import describe_bounds

    try:
        return describe_bounds(schedule, total, _max_warmup(max_warmup), lr)
    except RampupError as problem:
        _fail(f"--max-warmup: {problem}")


def _spec(spec: str, options: dict[str, Any]) -> tuple[str, Schedule, int]:
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        schedule, total = build(None, {**options, "config": spec})
        return path.name, schedule, total
    name, _, rest = spec.partition(":")
    pairs: list[str] = []
    for part in rest.split(","):
        if pairs and "=" not in part:
            pairs[-1] += f",{part}"  # one more item of a list value: milestones=100,200
        elif part:
            pairs.append(part)
    extra = list(options.get("extra") or ()) + pairs
    schedule, total = build(name, {**options, "extra": extra})
    return spec, schedule, total


@cli.command("compare")
@click.argument("specs", nargs=-1, required=True)
@_schedule_options
@click.option("-o", "--output", required=True, help="The figure to write (.png, .svg or .pdf).")
def compare_command(specs: tuple[str, ...], output: str, **options: Any) -> None:
    """Draw several schedules on one figure (SPEC: NAME[:KEY=VALUE,...] or a config file).

    \b
    Example:
      rampup compare linear cosine warmup_stable_decay:num_decay_steps=2000 \\
          --total 10000 --warmup 500 -o compare.png
    """
    if options.get("config"):
        _fail("compare takes schedule files as SPEC arguments, not --config")
    from rampup.plot import Curve, save_figure

    built = [_spec(spec, options) for spec in specs]
    total = options.get("total") or max(t for _, _, t in built)
    path = save_figure([Curve(label, s) for label, s, _ in built], total, _image_path(output),
                       peak_lr=options.get("lr"), steps_per_epoch=options.get("steps_per_epoch"))
    click.echo(f"wrote {path}")


def _steps_to_show(total: int, every: int | None, at: str | None) -> list[int]:
    if every is not None and at is not None:
        _fail("give either --every or --at, not both")
    if at is not None:
        try:
            steps = [int(part) for part in at.split(",") if part.strip()]
        except ValueError:
            _fail(f"--at expects comma-separated step numbers, got {at!r}")
        if not steps or min(steps) < 0:
            _fail(f"--at expects steps >= 0, got {at!r}")
        return steps
    if every is not None and every < 1:
        _fail(f"--every must be >= 1, got {every}")
    stride = every or max(1, total // 20)
    steps = list(range(0, total + 1, stride))
    return steps if steps[-1] == total else [*steps, total]


@cli.command("table")
@click.argument("name", required=False)
@_schedule_options
@click.option("--every", type=int, help="Show every N-th step (default: about 20 rows).")
@click.option("--at", help="Show these steps, e.g. --at 0,100,500.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the rows as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--save-config", type=click.Path(dir_okay=False),
              help="Also write the schedule's config (YAML or JSON by suffix).")
def table_command(name: str | None, every: int | None, at: str | None, csv_path: str | None,
                  as_json: bool, save_config: str | None, **options: Any) -> None:
    """The exact rates at chosen steps (the same numbers as the Python API).

    \b
    Examples:
      rampup table cosine --total 1000 --warmup 100 --every 100
      rampup table linear --total 1000 --warmup 100 --lr 3e-4 --at 0,1,99,100 --json
      rampup table wsd --total 1000 --warmup 50 --csv rates.csv --save-config wsd.yaml
    """
    schedule, total = build(name, options)
    steps = _steps_to_show(total, every, at)
    lr = options.get("lr")
    rows = [(step, schedule(step)) for step in steps]
    records = [{"step": s, "multiplier": m, **({"lr": m * lr} if lr is not None else {})}
               for s, m in rows]
    if save_config:
        save(schedule, save_config)
    if csv_path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(records[0]))
        for record in records:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in record.values()])
        write_atomic(Path(csv_path), buffer.getvalue().encode())
    if as_json:
        click.echo(json.dumps(records, indent=1))
        return
    headers = list(records[0])
    _print_table(headers, [[repr(v) if isinstance(v, float) else str(v) for v in r.values()]
                           for r in records])
    if csv_path:
        click.echo(f"wrote {csv_path}")
    if save_config:
        click.echo(f"wrote {save_config}")


@cli.command("steps")
@click.option("--epochs", type=float, required=True, help="Number of epochs.")
@click.option("--dataset-size", type=int, help="Samples in the training set.")
@click.option("--batch-size", type=int, help="Micro-batch size per process.")
@click.option(
    "--batches-per-epoch", type=int, help="len(dataloader) on one process (instead of the two above).",
)
@click.option("--grad-accum", type=int, default=1, show_default=True, help="Gradient accumulation steps.")
@click.option("--world-size", type=int, default=1, show_default=True, help="Number of processes.")
@click.option("--drop-last", is_flag=True, help="The data loader drops the last incomplete batch.")
@click.option("--max-steps", type=int, help="A cap on the total, as trainers' max_steps.")
@click.option("--warmup", help="Warmup as steps, a share (10%) or epochs (1ep).")
def steps_command(**options: Any) -> None:
    """How many optimizer steps a run takes, explained, so num_training_steps is right.

    \b
    Example:
      rampup steps --epochs 3 --dataset-size 10000 --batch-size 32 --grad-accum 4 --world-size 8 --warmup 10%
    """
    warmup = options.pop("warmup")
    result = training_steps(**options)
    steps = None
    if warmup is not None:
        value: Any = int(warmup) if warmup.isdigit() else warmup
        steps = resolve_duration(value, total_steps=result.total, steps_per_epoch=result.per_epoch)
        if steps > result.total:
            _fail(f"--warmup ({steps} steps) must not be longer than the run ({result.total} steps)")
    click.echo(f"total optimizer steps: {result.total}")
    click.echo(f"steps per epoch: {result.per_epoch}")
    if steps is not None:
        click.echo(f"warmup steps: {steps}")
    click.echo("")
    click.echo(result.describe())


@cli.command("scale")
@click.option("--base-lr", type=float, required=True, help="The rate tuned at --base-batch.")
@click.option("--base-batch", type=int, required=True, help="The batch size --base-lr was tuned for.")
@click.option("--batch", type=int, required=True, help="The new (global) batch size.")
@click.option("--rule", type=click.Choice(["linear", "sqrt"]), default="linear", show_default=True)
@click.option("--steps-per-epoch", type=int, help="Optimizer steps per epoch at the new batch size.")
def scale_command(base_lr: float, base_batch: int, batch: int, rule: str,
                  steps_per_epoch: int | None) -> None:
    """Scale a learning rate to a new batch size, and suggest the warmup to go with it.

    \b
    Example:
      rampup scale --base-lr 0.1 --base-batch 256 --batch 8192 --steps-per-epoch 156
    """
    scaled = (linear_scaling if rule == "linear" else sqrt_scaling)(base_lr, base_batch, batch)
    factor = scaled / base_lr
    click.echo(f"scaled lr: {scaled:.6g} ({rule} rule: x{factor:.4g} for batch {batch} vs {base_batch})")
    if factor > 1:
        where = ""
        if steps_per_epoch is not None:
            if steps_per_epoch < 1:
                _fail(f"--steps-per-epoch must be >= 1, got {steps_per_epoch}")
            where = f" = {5 * steps_per_epoch} steps"
        click.echo(
            f"suggested warmup: gradual, from {base_lr:.6g} to {scaled:.6g} over 5 epochs{where} "
            "(Goyal et al. 2017), e.g. rampup.gradual_warmup(steps, factor="
            f"{factor:.6g}) or the 'goyal' schedule"
        )
    else:
        click.echo("no warmup needed for a smaller batch")


@cli.command("list")
def list_command() -> None:
    """Every schedule name, with a one-line description and its options.

    \b
    Example:
      rampup list
    """
    rows = []
    for entry in REGISTRY.values():
        options = ", ".join(f"{k}={v!r}" for k, v in entry.options.items())
        origin = "transformers" if entry.transformers else "rampup"
        rows.append([entry.name, origin, entry.summary, options or "-"])
    _print_table(["name", "from", "what it does", "options (defaults)"], rows)
    click.echo("\nEvery name with a warmup also takes warmup_curve, warmup_start, warmup_endpoints.")


def _error(message: object) -> None:
    """Report an error on one line of stderr."""
    click.echo(f"rampup: error: {' '.join(str(message).split())}", err=True)


@cli.command("demo")
@click.option("--experiment", "experiments", multiple=True,
              help="transformer or large_batch (repeat for both; default both), or adaptive "
              "(adaptive warmup against fixed warmups; not in the default).")
@click.option("--seeds", type=int, help="Seeds per variant (default: 3 transformer, 2 large_batch).")
@click.option("--steps", type=int, help="Optimizer steps per run (large_batch: of the large-batch runs).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(),
              help="Folder for report.md, results.json, figures and checkpoints.")
@click.option("--quick", is_flag=True, help="Tiny models and few steps: under a minute, for tests.")
@click.option("--resume", is_flag=True, help="Continue every run from its last checkpoint in --out.")
@click.option("--checkpoint-every", type=int, default=50, show_default=True,
              help="Write a checkpoint every N steps (0: never).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--schedule", "custom_name", help="Also run your own schedule (a name, see 'rampup list').")
@click.option("--warmup", help="Warmup of --schedule: steps, a share (10%) or epochs (2ep).")
@click.option("--min-lr-ratio", type=float, help="Floor of --schedule as a fraction of the peak.")
@click.option("--cycles", type=float, help="Cosine cycles of --schedule.")
@click.option("--power", type=float, help="Polynomial power of --schedule.")
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
    from rampup.demo import DemoOptions, run_demo

    custom = None
    if custom_name:
        _named(custom_name, {**schedule_options, "total": 100})  # fail now on bad options

        def custom(total: int, per_epoch: int) -> Schedule:
            return _named(custom_name, {**schedule_options, "total": total, "steps_per_epoch": per_epoch})
    elif any(v for v in schedule_options.values()):
        _fail("--warmup, --min-lr-ratio, --cycles, --power and -O describe --schedule: give --schedule")
    command = "rampup demo " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "rampup demo"
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
    if "report" not in results:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="rampup",
                 standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.Abort:
        click.echo("rampup: aborted", err=True)
        return 1
    except no_args as problem:  # bare `rampup`: the help, as click itself shows it
        click.echo(problem.format_message(), err=True)
        return 2
    except click.UsageError as problem:
        _error(problem.format_message())
        return 2
    except click.ClickException as problem:
        _error(problem.format_message())
        return 1
    except (RampupError, ScheduleValueError) as problem:
        _error(problem)
        return 2
    except ImportError as problem:
        _error(f"{problem} (pip install 'rampup[cli]')")
        return 1
    except OSError as problem:
        _error(problem)
        return 1
    return 0


def entry_point() -> None:
    sys.exit(main())
