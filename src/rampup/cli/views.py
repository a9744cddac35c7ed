"""The commands that show schedules: ``plot`` (the terminal or a figure, or a saved state with
--state), ``compare`` and ``table``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from rampup._files import Outputs, check_target
from rampup.cli.building import _build, _spec, _yaml_available
from rampup.cli.output import (
    _commit,
    _copy_csv,
    _echo_json,
    _echo_table,
    _image_path,
    _output,
    _render,
    _steps_to_show,
    _terminal_width,
    _write_rows,
)
from rampup.cli.params import (
    _SHAPING,
    DEFAULT_MAX_ROWS,
    MAX_ROWS,
    STEPS,
    _checked,
    _fail,
    _schedule_options,
    _short,
)
from rampup.config import to_json, to_yaml
from rampup.errors import MissingDependencyError, RampupError
from rampup.schedules import Schedule


@click.command("plot")
@click.argument("name", required=False)
@_schedule_options
@click.option("-o", "--output", help="Write a figure (.png, .svg or .pdf) instead of a text plot.")
@click.option("--state", "state_path", metavar="FILE",
              help="A Scheduler state (or a checkpoint holding one) saved with torch.save: draw "
              "what ran and what is planned, with the changes marked.")
@click.option("--max-warmup", help="Also show an adaptive warmup's bounds: its longest warmup "
              "(updates or a share of --total, e.g. 30%); the schedule's warmup is the shortest.")
def plot_command(name: str | None, output: str | None, state_path: str | None = None,
                 max_warmup: str | None = None, **options: Any) -> None:
    """Draw one schedule: in the terminal, or as an image with -o.

    Long runs are drawn from a few thousand sampled steps that include every jump and turn of
    the curve, so any --total up to 2**62 draws quickly.

    \b
    Examples:
      rampup plot cosine --total 10000 --warmup 500
      rampup plot goyal --warmup 5ep --steps-per-epoch 500 -O milestones=30ep,60ep,80ep \\
          --total 45000 -o goyal.png
      rampup plot --config schedule.yaml --total 5000
      rampup plot --state run/checkpoint.pt -o plan.png
    """
    if state_path is not None:
        _plot_state(state_path, name, output, options)
        return
    outputs = Outputs()
    target = _image_path(output) if output else None
    schedule, total, what = _build(name, options)
    label = name or Path(options["config"]).name
    bounds = _adaptive_bounds(schedule, total, max_warmup, options.get("lr"))
    if target is not None:
        from rampup.plot import Curve

        path, image = target
        curves = [Curve(label, schedule)]
        if bounds is not None and max_warmup is not None:
            from rampup.adaptive import planned_bounds

            shortest, longest, latest = planned_bounds(schedule, total, _max_warmup(max_warmup))
            curves = [Curve(f"{label} (adaptive warmup at its shortest, {shortest} updates)", schedule),
                      Curve(f"adaptive warmup at its longest ({longest} updates)", latest)]
        outputs.add(path, _render(curves, total, image, str(output), options, what), "-o/--output")
        _commit(outputs)
        click.echo(f"wrote {output}")
        return
    from rampup.plot import text_plot

    with _checked(what, evaluating=True):
        picture = text_plot(schedule, total, width=min(_terminal_width(), 120), peak_lr=options.get("lr"))
    click.echo(f"{label}: {total} steps")
    click.echo(picture)
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


def _plot_state(path: str, name: str | None, output: str | None, options: dict[str, Any]) -> None:
    """``plot --state``: a saved Scheduler's executed and planned rates, changes marked."""
    from rampup.history import describe_changes, history, load_state, render_history, text_history

    given = [flag for key, flag in (("config", "--config"), ("total", "--total"), *_SHAPING.items())
             if options.get(key)]
    if name or given:
        _fail(f"--state draws the saved plan: it takes no {', '.join((['NAME'] if name else []) + given)}")
    outputs = Outputs()
    target = _image_path(output) if output else None
    if "\0" in path or not os.path.isfile(path):
        _fail(f"--state {_short(path, 200)!r} is not a file")
    with _checked(f"--state {_short(path, 200)}", evaluating=True):
        drawn = history(load_state(path))
    if target is not None:
        outputs.add(target[0], render_history(drawn, target[1]), "-o/--output")
        _commit(outputs)
        click.echo(f"wrote {output}")
        return
    click.echo(text_history(drawn, width=min(_terminal_width(), 120)))
    for line in describe_changes(drawn) or ["no changes to the plan"]:
        click.echo(line)


@click.command("compare")
@click.argument("specs", nargs=-1, required=True)
@_schedule_options
@click.option("-o", "--output", required=True, help="The figure to write (.png, .svg or .pdf).")
def compare_command(specs: tuple[str, ...], output: str, **options: Any) -> None:
    """Draw several schedules on one figure (SPEC: NAME[:KEY=VALUE,...] or a config file).

    The shared options (--warmup, --cycles, -O ...) apply to every NAME spec; a config file
    describes its whole schedule.

    \b
    Example:
      rampup compare linear cosine warmup_stable_decay:num_decay_steps=2000 \\
          --total 10000 --warmup 500 -o compare.png
    """
    if options.get("config"):
        _fail("compare takes schedule files as SPEC arguments, not --config")
    from rampup.plot import Curve

    path, image = _image_path(output)
    built = [_spec(spec, options) for spec in specs]
    total = options.get("total") or max(t for _, _, t in built)
    outputs = Outputs()
    curves = [Curve(label, s) for label, s, _ in built]
    outputs.add(path, _render(curves, total, image, output, options, "drawing " + ", ".join(specs)),
                "-o/--output")
    _commit(outputs)
    click.echo(f"wrote {output}")


@click.command("table")
@click.argument("name", required=False)
@_schedule_options
@click.option("--every", type=STEPS, help="Show every N-th step (default: about 20 rows).")
@click.option("--at", help="Show these steps, e.g. --at 0,100,500.")
@click.option("--max-rows", type=click.IntRange(1, MAX_ROWS), default=DEFAULT_MAX_ROWS, show_default=True,
              help=f"Refuse to print more rows than this (--every 1 on a long run); at most {MAX_ROWS:,}.")
@click.option("--csv", "csv_path", metavar="FILE", help="Write the rows as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--save-config", metavar="FILE",
              help="Also write the schedule's config (YAML or JSON by suffix).")
def table_command(name: str | None, every: int | None, at: str | None, max_rows: int,
                  csv_path: str | None, as_json: bool, save_config: str | None,
                  **options: Any) -> None:
    """The exact rates at chosen steps (the same numbers as the Python API).

    At most --max-rows rows (default 1,000,000; up to 100,000,000): a longer table is refused
    before any work. Rows are computed one at a time and kept in a temporary file, so memory stays
    small however many rows are asked for; nothing is printed or written unless every row is
    finite.

    \b
    Examples:
      rampup table cosine --total 1000 --warmup 100 --every 100
      rampup table linear --total 1000 --warmup 100 --lr 3e-4 --at 0,1,99,100 --json
      rampup table wsd --total 1000 --warmup 50 --csv rates.csv --save-config wsd.yaml
    """
    outputs = Outputs()
    csv_target = _output(csv_path, "--csv", outputs) if csv_path else None
    config_target = None
    if save_config:
        config_target = check_target(save_config, "--save-config")
        if csv_target is not None and os.path.abspath(csv_target) == os.path.abspath(config_target):
            _fail("--csv and --save-config name the same file")
        if config_target.suffix.lower() in (".yaml", ".yml") and not _yaml_available():
            raise MissingDependencyError(
                f"--save-config {_short(save_config, 200)}: writing YAML needs pyyaml: "
                "pip install 'rampup[yaml]' (or give a .json file)"
            )
    schedule, total, what = _build(name, options)
    steps = _steps_to_show(total, every, at, max_rows)
    lr = options.get("lr")
    headers = ["step", "multiplier", *(["lr"] if lr is not None else [])]
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rows_file:
        widths = _write_rows(schedule, what, steps, lr, rows_file)
        if config_target is not None:
            yaml_suffix = config_target.suffix.lower() in (".yaml", ".yml")
            with _checked("--save-config"):
                text = to_yaml(schedule) if yaml_suffix else to_json(schedule, indent=2) + "\n"
            outputs.add(config_target, text.encode(), "--save-config")
        if csv_target is not None:
            outputs.add(csv_target, lambda stream: _copy_csv(headers, rows_file, stream), "--csv")
        _commit(outputs)
        rows_file.seek(0)
        if as_json:
            _echo_json(headers, rows_file)
            return
        _echo_table(headers, widths, rows_file)
    if csv_path:
        click.echo(f"wrote {csv_path}")
    if save_config:
        click.echo(f"wrote {save_config}")
