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
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from rampup import __version__
from rampup.cli.building import _spec  # noqa: F401 - importable from rampup.cli, as before the split
from rampup.cli.output import _print_table
from rampup.cli.params import (
    _MESSAGE_LIMIT,
    MAX_STEPS,
    REAL,
    STEPS,
    FiniteReal,
    _checked,
    _duration,
    _fail,
    _WriteFailed,
)
from rampup.cli.runs import demo_command, find_lr_command
from rampup.cli.views import compare_command, plot_command, table_command
from rampup.durations import linear_scaling, resolve_duration, sqrt_scaling, training_steps
from rampup.errors import RampupError, RampupWarning
from rampup.names import REGISTRY


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


for _command in (plot_command, compare_command, table_command, demo_command, find_lr_command):
    cli.add_command(_command)


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
