"""The ``rampup`` command line: preview, compare and tabulate schedules before training.

It needs only the base install (numpy, array-api-compat and click): ``list``, ``steps``,
``scale``, ``table`` and the terminal ``plot`` work everywhere; images need matplotlib
(``rampup[plot]``), YAML files pyyaml (``rampup[yaml]``), the demo ``rampup[demo]``; rich, if
installed, draws the tables in a terminal.

Exit codes: 0 on success; 2 on any error in what was asked (a bad option or value, options that
contradict each other, an output path that cannot be written, a missing optional dependency),
reported as one line that names the option; 1 when the system fails a correct request (a disk
that fills while writing) or on an internal error, also one line (set ``RAMPUP_DEBUG=1`` for the
traceback). A command that fails leaves no output file behind: its files are written together at
the end, atomically, or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from rampup import __version__
from rampup._files import Outputs, OutputWriteError, check_target
from rampup.config import MAX_CONFIG_BYTES, load, to_json, to_yaml
from rampup.durations import linear_scaling, resolve_duration, sqrt_scaling, training_steps
from rampup.errors import MissingDependencyError, OptionError, RampupError, RampupWarning
from rampup.names import COMMON, REGISTRY, entry
from rampup.names import schedule as named_schedule
from rampup.schedules import Schedule

#: The largest step count the command line takes: rampup's exactness bound.
MAX_STEPS = 2**62
#: The rows ``table`` prints unless --max-rows says more, and the most --max-rows allows (a
#: longer table is a job for the Python API: ``schedule(numpy.arange(n))``).
DEFAULT_MAX_ROWS = 1_000_000
MAX_ROWS = 100_000_000
#: Rows above which ``table`` prints plain text even in a terminal (rich needs them all at once).
RICH_ROWS = 1000
_MESSAGE_LIMIT = 600


class UsageProblem(click.UsageError):
    """A bad option value, reported on one line with exit code 2."""


class _WriteFailed(Exception):
    """The system refused to write the outputs of a correct request (exit code 1)."""


def _fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def _short(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- option types: every number is checked where it is read -----------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]+(_[0-9]+)*\Z", re.ASCII)


class StepCount(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A whole number in [minimum, MAX_STEPS]."""

    name = "integer"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not _INTEGER.match(text):
                self.fail(f"must be a whole number, got {_short(text)!r}", param, ctx)
            if len(text) > 30:
                self.fail(f"must be at most {MAX_STEPS} (2**62), got {_short(text)}", param, ctx)
            number = int(text)
        if not self.minimum <= number <= MAX_STEPS:
            self.fail(f"must be an integer in [{self.minimum}, 2**62], got {number}", param, ctx)
        return number


class FiniteReal(click.ParamType):  # type: ignore[type-arg]
    """A finite real number, optionally > 0 or >= 0 and at most ``maximum``."""

    name = "number"

    def __init__(self, *, positive: bool = False, non_negative: bool = False,
                 maximum: float | None = None) -> None:
        self.positive = positive
        self.non_negative = non_negative
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"must be a number, got {_short(value)!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"must be a finite number, got {_short(value)}", param, ctx)
        if self.positive and not number > 0:
            self.fail(f"must be > 0, got {_short(value)}", param, ctx)
        if self.non_negative and number < 0:
            self.fail(f"must be >= 0, got {_short(value)}", param, ctx)
        if self.maximum is not None and number > self.maximum:
            most = "2**62" if self.maximum == MAX_STEPS else f"{self.maximum:g}"
            self.fail(f"must be at most {most}, got {_short(value)}", param, ctx)
        return number


STEPS = StepCount(1)
REAL = FiniteReal()


@contextlib.contextmanager
def _checked(what: str, *, evaluating: bool = False) -> Iterator[None]:
    """Turn a failure inside rampup on the user's values into a one-line error about them.

    rampup validates its arguments with RampupErrors; anything else raised while building or
    evaluating a schedule from command-line values still comes from those values, so it is
    reported as a usage error naming them rather than as a traceback. ``evaluating``: the
    schedule is built already, so an error now (a value that is not finite) is prefixed with
    ``what`` to say which schedule gave it.
    """
    try:
        yield
    except MissingDependencyError:
        raise
    except RampupError as error:
        if evaluating:
            raise OptionError(f"{what}: {error}") from error
        raise
    except click.ClickException:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError, IndexError, KeyError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise OptionError(f"{what}: {type(error).__name__}: {_short(detail, 200)}") from error


def _duration(text: str | None, option: str) -> str | None:
    """A duration option's text ("500", "10%", "2ep"; rampup reads it), refused if too long."""
    if text is None:
        return None
    text = text.strip()
    if len(text) > 64:
        _fail(f"{option} is too long to be a duration: {_short(text)!r}")
    return text


def _parse_value(text: str, key: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if "," in text:
        return [_parse_value(part, key) for part in text.split(",") if part]
    if _INTEGER.match(text):
        if len(text) > 30:
            _fail(f"-O {key}: {_short(text)} is too large a number")
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        _fail(f"-O {key}={_short(text)}: not a finite number")
    return number


def _parse_pairs(pairs: Sequence[str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            _fail(f"{where} expects KEY=VALUE, got {_short(pair)!r}")
        if key in out:
            _fail(f"{where} sets {_short(key)!r} twice")
        out[key] = _parse_value(value.strip(), key)
    return out


def _schedule_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by plot, compare and table (mirroring the Python API)."""
    decorators = [
        click.option("--total", type=STEPS, help="Total optimizer steps (num_training_steps)."),
        click.option("--warmup", help="Warmup: steps (500), a share of --total (5%) or epochs (2ep)."),
        click.option("--lr", type=FiniteReal(positive=True),
                     help="Peak learning rate; the values become absolute rates."),
        click.option("--min-lr", type=FiniteReal(non_negative=True),
                     help="Final (floor) rate, absolute; needs --lr."),
        click.option("--min-lr-ratio", type=REAL, help="Final (floor) rate as a fraction of the peak."),
        click.option("--cycles", type=REAL, help="Cosine cycles (num_cycles)."),
        click.option("--power", type=REAL, help="Polynomial power."),
        click.option("--steps-per-epoch", type=STEPS, help="Optimizer steps per epoch (for 'ep' units)."),
        click.option("-O", "--option", "extra", multiple=True, metavar="KEY=VALUE",
                     help="Any other option of the schedule, e.g. -O num_decay_steps=2000."),
        click.option("--config", metavar="FILE",
                     help="A schedule file (YAML or JSON, to_dict form) instead of NAME."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


#: Options that shape a named schedule; they do not apply to a schedule read from a file.
_SHAPING = {"warmup": "--warmup", "min_lr": "--min-lr", "min_lr_ratio": "--min-lr-ratio",
            "cycles": "--cycles", "power": "--power", "extra": "-O/--option"}


def build(name: str | None, options: dict[str, Any], *, strict: bool = True) -> tuple[Schedule, int]:
    """The schedule and the number of steps to show, from NAME and the shared options.

    With ``strict`` (plot, table), options that shape a named schedule are an error next to
    --config; compare (not strict) applies them to its NAME specs only.
    """
    schedule, total, _ = _build(name, options, strict=strict)
    return schedule, total


def _build(name: str | None, options: dict[str, Any], *, strict: bool = True) -> tuple[Schedule, int, str]:
    """:func:`build`, and the schedule's origin for messages ("cosine (num_cycles=2, ...)")."""
    total = options.get("total")
    config = options.get("config")
    if config:
        if name:
            _fail("give either NAME or --config, not both")
        if strict:
            for key, flag in _SHAPING.items():
                if options.get(key):
                    _fail(f"{flag} does not apply to --config: the file describes the whole schedule")
        schedule = _load_config(config)
        what = f"--config {_short(config, 200)}"
    else:
        if not name:
            _fail("give a schedule NAME (see 'rampup list') or --config FILE")
        schedule, what = _named_with_origin(name, options)
    if total is None:
        total = schedule.horizon
        if total is None:
            _fail("this schedule keeps changing: give --total to choose how many steps to show")
        if total == 0:
            _fail("this schedule never changes: give --total to choose how many steps to show")
        if total > MAX_STEPS:
            _fail(f"this schedule lasts {total} steps, more than 2**62: give --total")
    return schedule, total, what


def _yaml_available() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def _load_config(config: str) -> Schedule:
    path = Path(config)
    try:
        exists, folder = path.is_file(), path.is_dir()
    except (OSError, ValueError) as error:  # a name too long, a NUL byte ...
        reason = getattr(error, "strerror", None) or error
        _fail(f"--config {_short(config, 200)!r}: not a usable file name ({reason})")
    if folder:
        _fail(f"--config {_short(config, 200)!r} is a folder; give a schedule file")
    if not exists:
        _fail(f"--config: no such file: {_short(config, 200)}")
    try:
        size = path.stat().st_size
    except OSError as error:
        _fail(f"--config {_short(config, 200)}: cannot read it ({error.strerror})")
    if size > MAX_CONFIG_BYTES:
        _fail(f"--config {_short(config, 200)}: {size} bytes is too large for a schedule file "
              f"(at most {MAX_CONFIG_BYTES})")
    if path.suffix.lower() != ".json" and not _yaml_available():
        raise MissingDependencyError(
            f"--config {_short(config, 200)}: reading YAML needs pyyaml: pip install 'rampup[yaml]' "
            "(or give a .json file)"
        )
    try:
        with _checked(f"--config {_short(config, 200)}"):
            return load(path)
    except OSError as error:
        _fail(f"--config {_short(config, 200)}: cannot read it ({error.strerror or error})")


def _named(name: str, options: dict[str, Any]) -> Schedule:
    return _named_with_origin(name, options)[0]


def _named_with_origin(name: str, options: dict[str, Any]) -> tuple[Schedule, str]:
    named = entry(name)  # an unknown name: the error with a suggestion
    valid = named.all_options()
    kwargs = _parse_pairs(options.get("extra") or (), "-O/--option")
    if "name" in kwargs:
        _fail(f"-O name={_short(kwargs['name'])}: the schedule's name is NAME ({name!r}), not an option")
    lr = options.get("lr")

    def put(flag: str, value: Any, key: str | None) -> None:
        if value is None:
            return
        if key is None or not (key in valid or key in COMMON):
            _fail(f"{flag} does not apply to {name!r}; its options: {', '.join(valid) or 'none'}")
        if key in kwargs:
            _fail(f"{flag} and -O {key}=... both set {key}: give one of them")
        kwargs[key] = value

    put("--total", options.get("total"), "total_steps")
    put("--steps-per-epoch", options.get("steps_per_epoch"), "steps_per_epoch")
    put("--warmup", _duration(options.get("warmup"), "--warmup"), "warmup")
    put("--cycles", options.get("cycles"), named.option_for("cycles"))
    put("--power", options.get("power"), "power")
    put("--min-lr-ratio", options.get("min_lr_ratio"), named.option_for("floor"))
    min_lr = options.get("min_lr")
    if min_lr is not None:
        if lr is None:
            _fail("--min-lr is an absolute rate: give --lr too, or use --min-lr-ratio")
        if named.option_for("floor_lr") is not None:
            put("--min-lr", min_lr, named.option_for("floor_lr"))
        else:
            ratio = min_lr / lr
            if not math.isfinite(ratio):
                _fail(f"--min-lr / --lr = {min_lr:g} / {lr:g} is not a finite ratio")
            put("--min-lr", ratio, named.option_for("floor"))
    if lr is not None and "peak_lr" in valid:
        if "peak_lr" in kwargs and kwargs["peak_lr"] != lr:
            _fail(f"--lr {lr:g} and -O peak_lr={_short(kwargs['peak_lr'])} disagree: give one of them")
        kwargs["peak_lr"] = lr
    given = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
    what = f"{name} ({given})" if given else name
    with _checked(what):
        return named_schedule(name, **kwargs), what


def _terminal_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _use_rich() -> bool:
    if not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _print_table(headers: list[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    if _use_rich() and len(rows) <= RICH_ROWS:
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


def _output(path: str, option: str, outputs: Outputs) -> Path:
    """Check an output file's path now (exit 2 if it cannot be a file) and that no other output
    of the command has it; the file itself is written at the end."""
    target = check_target(path, option)
    taken = {os.path.abspath(p) for p in outputs.paths}
    if os.path.abspath(target) in taken:
        _fail(f"{option} {_short(path, 200)!r} is also another output of this command")
    return target


def _image_path(output: str, option: str = "-o/--output") -> tuple[Path, str]:
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        _fail(f"{option} must end in .png, .svg or .pdf, got {_short(output, 200)!r}")
    return check_target(output, option), suffix[1:]


def _render(curves: list[Any], total: int, image: str, output: str, options: dict[str, Any],
            what: str) -> bytes:
    from rampup.plot import render_figure

    try:
        with _checked(what, evaluating=True):
            return render_figure(curves, total, image, peak_lr=options.get("lr"),
                                 steps_per_epoch=options.get("steps_per_epoch"))
    except MissingDependencyError:
        raise MissingDependencyError(
            f"-o {_short(output, 200)}: writing an image needs matplotlib: pip install 'rampup[plot]' "
            "(without -o, plot draws in the terminal)"
        ) from None


#: Write failures that say the asked path cannot be written (a usage error, exit 2); others
#: (a full disk, an I/O error) are the system failing a correct request (exit 1).
_PATH_ERRNOS = {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR,
                errno.EINVAL, errno.EEXIST, errno.ELOOP, errno.ENOENT}


def _commit(outputs: Outputs) -> None:
    try:
        outputs.commit()
    except OutputWriteError as error:
        where = f"{error.label} {_short(str(error.filename), 200)!r}" if error.label else repr(error.filename)
        message = f"{where}: cannot write it ({error.strerror}); nothing was written"
        if error.errno in _PATH_ERRNOS:
            raise OptionError(message) from error
        raise _WriteFailed(message) from error


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
      rampup find-lr --model transformer -o lr.png
    """


@cli.command("plot")
@click.argument("name", required=False)
@_schedule_options
@click.option("-o", "--output", help="Write a figure (.png, .svg or .pdf) instead of a text plot.")
@click.option("--state", "state_path", metavar="FILE",
              help="A Scheduler state (or a checkpoint holding one) saved with torch.save: draw "
              "what ran and what is planned, with the changes marked.")
def plot_command(name: str | None, output: str | None, state_path: str | None = None,
                 **options: Any) -> None:
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
    if target is not None:
        from rampup.plot import Curve

        path, image = target
        outputs.add(path, _render([Curve(label, schedule)], total, image, str(output), options, what),
                    "-o/--output")
        _commit(outputs)
        click.echo(f"wrote {output}")
        return
    from rampup.plot import text_plot

    with _checked(what, evaluating=True):
        picture = text_plot(schedule, total, width=min(_terminal_width(), 120), peak_lr=options.get("lr"))
    click.echo(f"{label}: {total} steps")
    click.echo(picture)


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


def _spec(spec: str, options: dict[str, Any]) -> tuple[str, Schedule, int]:
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        schedule, total = build(None, {**options, "config": spec}, strict=False)
        return path.name, schedule, total
    name, _, rest = spec.partition(":")
    pairs: list[str] = []
    for part in rest.split(","):
        if pairs and "=" not in part:
            pairs[-1] += f",{part}"  # one more item of a list value: milestones=100,200
        elif part:
            pairs.append(part)
    extra = list(options.get("extra") or ()) + pairs
    schedule, total = build(name, {**options, "extra": extra, "config": None})
    return spec, schedule, total


@cli.command("compare")
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


def _steps_to_show(total: int, every: int | None, at: str | None, max_rows: int) -> Iterable[int]:
    """The steps ``table`` shows: --at's list, or every --every-th step and the last one."""
    if every is not None and at is not None:
        _fail("give either --every or --at, not both")
    if at is not None:
        parts = [part.strip() for part in at.split(",") if part.strip()]
        if len(parts) > max_rows:
            _fail(f"--at lists {len(parts)} steps, more than --max-rows ({max_rows})")
        steps = []
        for part in parts:
            if not re.fullmatch(r"[0-9]{1,19}", part, re.ASCII) or int(part) > MAX_STEPS:
                _fail(f"--at expects comma-separated step numbers in [0, 2**62], got {_short(at)!r}")
            steps.append(int(part))
        if not steps:
            _fail(f"--at expects comma-separated step numbers in [0, 2**62], got {_short(at)!r}")
        return steps
    stride = every or max(1, total // 20)
    strided = range(0, total + 1, stride)
    rows = len(strided) + (strided[-1] != total)
    if rows > max_rows:
        _fail(f"--every {stride} gives {rows} rows over {total} steps, more than --max-rows "
              f"({max_rows}): give a larger --every, or raise --max-rows")
    return strided if strided[-1] == total else itertools.chain(strided, [total])


def _float_text(value: float) -> str:
    return repr(value)


@cli.command("table")
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


def _write_rows(schedule: Schedule, what: str, steps: Iterable[int], lr: float | None,
                out: IO[str]) -> list[int]:
    """Evaluate the rows into ``out`` (tab-separated exact values); returns column widths."""
    widths = [4, 10, 2]
    for step in steps:
        with _checked(f"{what} at step {step}"):
            value = schedule(step)
        cells = [str(step), _float_text(value)]
        bad = None if math.isfinite(value) else f"{what} gives {value} at step {step}"
        if lr is not None:
            rate = value * lr
            cells.append(_float_text(rate))
            if bad is None and not math.isfinite(rate):
                bad = f"--lr {lr:g} times the multiplier {value!r} at step {step} is {rate}"
        if bad is not None:
            _fail(f"{bad}: not a usable learning rate")
        for index, cell in enumerate(cells):
            widths[index] = max(widths[index], len(cell))
        out.write("\t".join(cells) + "\n")
    return widths


def _records(headers: list[str], rows_file: IO[str]) -> Iterator[list[str]]:
    rows_file.seek(0)
    for line in rows_file:
        yield line.rstrip("\n").split("\t")


def _copy_csv(headers: list[str], rows_file: IO[str], stream: IO[bytes]) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(headers)
    for cells in _records(headers, rows_file):
        writer.writerow(cells)
    text.flush()
    text.detach()


def _echo_json(headers: list[str], rows_file: IO[str]) -> None:
    click.echo("[")
    first = True
    for cells in _records(headers, rows_file):
        record = {"step": int(cells[0]), **{h: float(c) for h, c in zip(headers[1:], cells[1:], strict=True)}}
        click.echo(("" if first else ",\n") + " " + json.dumps(record), nl=False)
        first = False
    click.echo("\n]")


def _echo_table(headers: list[str], widths: list[int], rows_file: IO[str]) -> None:
    if _use_rich():
        rows = []
        for cells in _records(headers, rows_file):
            rows.append(cells)
            if len(rows) > RICH_ROWS:
                break
        if len(rows) <= RICH_ROWS:
            _print_table(headers, rows)
            return
    widths = [max(w, len(h)) for w, h in zip(widths, headers, strict=False)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for cells in _records(headers, rows_file):
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip())


@cli.command("steps")
@click.option("--epochs", type=FiniteReal(maximum=float(MAX_STEPS)), required=True,
              help="Number of epochs.")
@click.option("--dataset-size", type=STEPS, help="Samples in the training set.")
@click.option("--batch-size", type=STEPS, help="Micro-batch size per process.")
@click.option(
    "--batches-per-epoch", type=STEPS, help="len(dataloader) on one process (instead of the two above).",
)
@click.option("--grad-accum", type=STEPS, default=1, show_default=True, help="Gradient accumulation steps.")
@click.option("--world-size", type=STEPS, default=1, show_default=True, help="Number of processes.")
@click.option("--drop-last", is_flag=True, help="The data loader drops the last incomplete batch.")
@click.option("--max-steps", type=STEPS, help="A cap on the total, as trainers' max_steps.")
@click.option("--warmup", help="Warmup as steps, a share (10%) or epochs (1ep).")
def steps_command(**options: Any) -> None:
    """How many optimizer steps a run takes, explained, so num_training_steps is right.

    \b
    Example:
      rampup steps --epochs 3 --dataset-size 10000 --batch-size 32 --grad-accum 4 --world-size 8 --warmup 10%
    """
    warmup = _duration(options.pop("warmup"), "--warmup")
    with _checked("steps"):
        result = training_steps(**options)
        described = result.describe()
    steps = None
    if warmup is not None:
        with _checked(f"--warmup {warmup}"):
            steps = resolve_duration(warmup, total_steps=result.total, steps_per_epoch=result.per_epoch)
        if steps > result.total:
            _fail(f"--warmup ({steps} steps) must not be longer than the run ({result.total} steps)")
    click.echo(f"total optimizer steps: {result.total}")
    click.echo(f"steps per epoch: {result.per_epoch}")
    if steps is not None:
        click.echo(f"warmup steps: {steps}")
    click.echo("")
    click.echo(described)


@cli.command("scale")
@click.option("--base-lr", type=REAL, required=True, help="The rate tuned at --base-batch.")
@click.option("--base-batch", type=STEPS, required=True, help="The batch size --base-lr was tuned for.")
@click.option("--batch", type=STEPS, required=True, help="The new (global) batch size.")
@click.option("--rule", type=click.Choice(["linear", "sqrt"]), default="linear", show_default=True)
@click.option("--steps-per-epoch", type=STEPS, help="Optimizer steps per epoch at the new batch size.")
def scale_command(base_lr: float, base_batch: int, batch: int, rule: str,
                  steps_per_epoch: int | None) -> None:
    """Scale a learning rate to a new batch size, and suggest the warmup to go with it.

    \b
    Example:
      rampup scale --base-lr 0.1 --base-batch 256 --batch 8192 --steps-per-epoch 156
    """
    factor = batch / base_batch if rule == "linear" else math.sqrt(batch / base_batch)
    # Checked here first so the error names this command's flags; the rule refuses it too.
    scaled = base_lr * factor
    if math.isfinite(scaled) or not base_lr > 0:
        with _checked("scale"):
            scaled = (linear_scaling if rule == "linear" else sqrt_scaling)(base_lr, base_batch, batch)
    if not (math.isfinite(scaled) and scaled > 0):
        _fail(f"--base-lr {base_lr:g} scaled x{factor:.4g} ({rule} rule) gives {scaled}: "
              "not a usable learning rate")
    click.echo(f"scaled lr: {scaled:.6g} ({rule} rule: x{factor:.4g} for batch {batch} vs {base_batch})")
    if factor > 1:
        where = "" if steps_per_epoch is None else f" = {5 * steps_per_epoch} steps"
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
    for named in REGISTRY.values():
        options = ", ".join(f"{k}={v!r}" for k, v in named.options.items())
        origin = "transformers" if named.transformers else "rampup"
        rows.append([named.name, origin, named.summary, options or "-"])
    _print_table(["name", "from", "what it does", "options (defaults)"], rows)
    click.echo("\nEvery name with a warmup also takes warmup_curve, warmup_start, warmup_endpoints.")


@cli.command("demo")
@click.option("--experiment", "experiments", multiple=True,
              help="transformer or large_batch (repeat for both; default both); not run by default: "
                   "probe (the range-test and critical-rate experiment), wsd (cooldowns branched from "
                   "one constant-rate run vs cosine runs, about 10 minutes).")
@click.option("--seeds", type=int, help="Seeds per variant (default: 3 transformer, 2 large_batch).")
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


@cli.command("find-lr")
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
    loss has made 90% of its fall to its minimum (see rampup.suggest); the figure shows the
    curve, the descent and the suggestion. Nothing is downloaded.

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


def _error(message: object, kind: str = "error") -> None:
    """Report an error on one line of stderr."""
    text = " ".join(str(message).split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    click.echo(f"rampup: {kind}: {text}", err=True)


#: The extra that installs each optional package.
_EXTRAS = {"torch": "torch", "matplotlib": "plot", "yaml": "yaml", "rich": "cli", "tqdm": "demo",
           "mnist1d": "demo"}


def _run(args: list[str] | None) -> int:
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2
    try:
        result = cli.main(args=args, prog_name="rampup", standalone_mode=False,
                          obj={"argv": args})
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.Abort:
        _error("interrupted")
        return 130
    except no_args as problem:  # bare `rampup`: the help, as click itself shows it
        click.echo(problem.format_message(), err=True)
        return 2
    except click.ClickException as problem:
        _error(problem.format_message())
        return 2
    except RampupError as problem:  # bad values, contradictions, paths, missing extras
        _error(problem)
        return 2
    except _WriteFailed as problem:
        _error(problem)
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `rampup table ... | head`: the reader has gone, nothing to say
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit
        return 1
    except MemoryError:
        _error("out of memory")
        return 1
    except Exception as problem:
        package = (getattr(problem, "name", None) or "").split(".")[0]
        if isinstance(problem, ModuleNotFoundError) and package in _EXTRAS:
            # An optional package, met where no earlier check named it.
            _error(f"this needs {package}: pip install 'rampup[{_EXTRAS[package]}]'")
            return 2
        if os.environ.get("RAMPUP_DEBUG"):
            raise
        _error(f"{type(problem).__name__}: {problem} (this is a bug in rampup: please report it "
               "with the command line; RAMPUP_DEBUG=1 shows the traceback)", kind="internal error")
        return 1
    return result if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code. Warnings are printed as one line each."""
    args = list(argv) if argv is not None else None
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    for warning in caught:
        if issubclass(warning.category, RampupWarning):
            _error(warning.message, kind="warning")
        elif issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
            # For developers: where they would have gone (hidden outside tests by default).
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno,
                                 warning.file, warning.line)
        else:
            _error(f"{warning.category.__name__}: {warning.message}", kind="warning")
    return code


def entry_point() -> None:
    sys.exit(main())
