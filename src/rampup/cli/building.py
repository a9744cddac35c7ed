"""The schedule a command line describes: NAME with its flags and -O options, a --config file, or
a compare SPEC; each flag goes to the option the name declares for it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rampup.cli.params import _SHAPING, MAX_STEPS, _checked, _duration, _fail, _parse_pairs, _short
from rampup.config import MAX_CONFIG_BYTES, load
from rampup.errors import MissingDependencyError
from rampup.names import COMMON, entry
from rampup.names import schedule as named_schedule
from rampup.schedules import Schedule


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
