"""The command line's option types and values: every number checked where it is read, -O KEY=VALUE
pairs, durations, and the one-line usage errors."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import click

from rampup.errors import MissingDependencyError, OptionError, RampupError

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
