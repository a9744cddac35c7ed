"""Schedules to and from plain dicts, JSON and YAML (``to_dict`` is the source of truth).

The dict form is ``{"shape": NAME, FIELD: VALUE, ...}`` with nested schedules as nested dicts,
e.g. ``{"shape": "join", "boundaries": [500], "phases": [{"shape": "warmup", "steps": 500, ...},
{"shape": "cosine", "steps": 9500, ...}]}``. YAML needs the optional ``pyyaml`` package.

Configs may come from anyone, so reading one is bounded: at most ``MAX_CONFIG_BYTES`` of text,
``MAX_CONFIG_DEPTH`` levels, ``MAX_CONFIG_VALUES`` values and ``MAX_YAML_ALIASES`` YAML aliases,
refused before anything large is built; YAML is read with the safe loader. Every problem is a
``RampupError`` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rampup._files import write_atomic  # the one atomic writer (also rampup.config.write_atomic)
from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError, closest, show
from rampup.schedules import SHAPES, Schedule

MAX_CONFIG_BYTES = 1 << 16
"""The largest config text ``from_json``, ``from_yaml`` and ``load`` read (64 KiB; pyyaml reads
about 10-50 KiB a second, and a schedule's config is a few hundred bytes)."""

MAX_CONFIG_DEPTH = 100
"""The deepest nesting of lists and dicts in a config (a schedule nests at most 32 deep, which
its dict form writes in 65 levels)."""

MAX_CONFIG_VALUES = 10_000
"""The most values (dicts, lists, numbers, strings) in a config, a YAML alias counted each time it
is used."""

MAX_YAML_ALIASES = 16
"""The most YAML aliases (``*name``) in one config; rampup itself never writes any."""


def from_dict(data: dict[str, Any]) -> Schedule:
    """Build the schedule that ``schedule.to_dict()`` describes; unknown keys are an error.

    The dict may come from anywhere: its size and nesting are checked first (at most
    ``MAX_CONFIG_VALUES`` values, ``MAX_CONFIG_DEPTH`` levels, string keys), and every problem is
    a ``RampupError`` with a one-line message.

    Examples:
        >>> import rampup
        >>> rampup.from_dict({"shape": "linear", "steps": 4})
        Linear(steps=4, min_lr_ratio=0.0, endpoints='start')
        >>> s = rampup.with_warmup(rampup.Cosine(steps=90), 10)
        >>> rampup.from_dict(s.to_dict()) == s
        True
    """
    _check_structure(data)
    return _build(data)


def _check_structure(data: Any) -> None:
    """Walk the config without recursion, refusing it past the size and depth limits (a
    self-referencing dict is refused by its depth), or with a key that is not a string."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while pending:
        value, depth = pending.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ScheduleValueError(
                f"a schedule config holds at most {MAX_CONFIG_VALUES} values; this one holds more"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ScheduleValueError(
                f"a schedule config nests at most {MAX_CONFIG_DEPTH} levels of lists and dicts; "
                "this one nests deeper"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ScheduleTypeError(
                        f"schedule config keys must be strings, got {show(key)} of type "
                        f"{type(key).__name__}"
                    )
                pending.append((item, depth + 1))
        elif isinstance(value, (list, tuple)):
            pending.extend((item, depth + 1) for item in value)


def _build(data: Any) -> Schedule:
    if not isinstance(data, dict):
        raise ScheduleTypeError(f"a schedule config must be a dict, got {type(data).__name__}")
    if "shape" not in data:
        raise ScheduleValueError(
            f"a schedule config needs a 'shape' key (one of {', '.join(sorted(SHAPES))}); "
            f"got keys {show(sorted(data))}"
        )
    shape = data["shape"]
    if not isinstance(shape, str) or shape not in SHAPES:
        raise ScheduleValueError(
            f"unknown shape {show(shape)}; known: {', '.join(sorted(SHAPES))}.{closest(shape, SHAPES)}"
        )
    cls = SHAPES[shape]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "shape":
            continue
        if key not in fields:
            raise ScheduleTypeError(
                f"{shape} got unexpected key {show(key)}; valid keys: {', '.join(sorted(fields))}."
                f"{closest(key, fields)}"
            )
        kwargs[key] = _revive(value)
    try:
        return cls(**kwargs)
    except TypeError as error:
        if isinstance(error, ScheduleTypeError):
            raise
        raise ScheduleTypeError(f"{shape}: {error}") from None


def _revive(value: Any) -> Any:
    if isinstance(value, dict) and "shape" in value:
        return _build(value)
    if isinstance(value, list):
        return tuple(_revive(v) for v in value)
    return value


def to_json(schedule: Schedule, **kwargs: Any) -> str:
    """The schedule's dict form as JSON text.

    Examples:
        >>> import rampup
        >>> rampup.to_json(rampup.Linear(steps=4))
        '{"shape": "linear", "steps": 4, "min_lr_ratio": 0.0, "endpoints": "start"}'
    """
    return json.dumps(schedule.to_dict(), **kwargs)


def from_json(text: str | bytes) -> Schedule:
    """Parse JSON text written by :func:`to_json` (at most ``MAX_CONFIG_BYTES``).

    Examples:
        >>> import rampup
        >>> rampup.from_json('{"shape": "step", "step_size": 10, "gamma": 0.5}')(25)
        0.25
    """
    return from_dict(_parse_json(text, "JSON text"))


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "YAML support needs pyyaml: pip install 'rampup[yaml]' (or pip install pyyaml)"
        ) from None
    return yaml


def to_yaml(schedule: Schedule) -> str:
    """The schedule's dict form as YAML text.

    Examples:
        >>> import rampup
        >>> print(rampup.to_yaml(rampup.Linear(steps=4)), end="")
        shape: linear
        steps: 4
        min_lr_ratio: 0.0
        endpoints: start
    """
    return str(_yaml().safe_dump(schedule.to_dict(), sort_keys=False))


def from_yaml(text: str | bytes) -> Schedule:
    """Parse YAML (or JSON, which is YAML) text, at most ``MAX_CONFIG_BYTES``.

    YAML is read with pyyaml's safe loader (plain data only: no Python objects), refusing more
    than ``MAX_YAML_ALIASES`` aliases and more than ``MAX_CONFIG_DEPTH`` levels while it is parsed,
    before anything is expanded or built.

    Raises:
        ScheduleValueError: text that is not YAML or JSON, too large, or not a valid schedule.
        ScheduleTypeError: ``text`` that is neither ``str`` nor ``bytes``.

    Examples:
        >>> import rampup
        >>> s = rampup.from_yaml("{shape: linear, steps: 4}")   # YAML flow style
        >>> s(1)                                         # (4 - 1) / 4
        0.75
        >>> rampup.from_yaml(rampup.to_yaml(s)) == s
        True
    """
    return from_dict(_parse_yaml(text, "YAML text"))


def _check_text(text: Any, where: str) -> None:
    if not isinstance(text, (str, bytes, bytearray)):
        raise ScheduleTypeError(f"{where} must be a str, got {type(text).__name__}")
    if len(text) > MAX_CONFIG_BYTES:
        raise ScheduleValueError(
            f"{where} is larger than {MAX_CONFIG_BYTES} bytes ({len(text)}); a schedule config is "
            "a few hundred"
        )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def _json_depth(text: str | bytes | bytearray) -> int:
    """The deepest bracket nesting of JSON text, strings left out (json itself recurses)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data))
    steps = (1 if c in b"[{" else -1 for c in brackets)
    return max(itertools.accumulate(steps), default=0)


def _parse_json(text: Any, where: str) -> Any:
    _check_text(text, where)
    if _json_depth(text) > MAX_CONFIG_DEPTH:
        raise ScheduleValueError(
            f"{where}: a schedule config nests at most {MAX_CONFIG_DEPTH} levels of lists and "
            "dicts; this one nests deeper"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, a 4300+ digit integer
        raise ScheduleValueError(f"{where}: not valid JSON ({_one_line(error)})") from None


def _bounded_loader() -> Any:
    """pyyaml's SafeLoader, refusing too many aliases and too deep a nesting as it composes the
    document: before any alias is expanded (a few hundred bytes of nested aliases would otherwise
    expand to gigabytes) and before its recursive composer could exhaust the stack."""
    yaml = _yaml()

    class BoundedLoader(yaml.SafeLoader):  # type: ignore[name-defined,misc]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.rampup_aliases = 0
            self.rampup_depth = 0
            self.rampup_values = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.rampup_values += 1
            if self.rampup_values > MAX_CONFIG_VALUES:
                raise ScheduleValueError(
                    f"a schedule config holds at most {MAX_CONFIG_VALUES} values; this one holds more"
                )
            if self.check_event(yaml.AliasEvent):
                self.rampup_aliases += 1
                if self.rampup_aliases > MAX_YAML_ALIASES:
                    raise ScheduleValueError(
                        f"a schedule config may use at most {MAX_YAML_ALIASES} YAML aliases; this "
                        "one uses more"
                    )
            self.rampup_depth += 1
            try:
                if self.rampup_depth > MAX_CONFIG_DEPTH:
                    raise ScheduleValueError(
                        f"a schedule config nests at most {MAX_CONFIG_DEPTH} levels of lists and "
                        "dicts; this one nests deeper"
                    )
                return super().compose_node(parent, index)
            finally:
                self.rampup_depth -= 1

    return BoundedLoader


def _parse_yaml(text: Any, where: str) -> Any:
    _check_text(text, where)
    yaml = _yaml()
    loader = None
    try:
        loader = _bounded_loader()(text)  # the reader already refuses some characters
        return loader.get_single_data()
    except RampupError as error:
        raise type(error)(f"{where}: {error}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ScheduleValueError(f"{where}: not valid YAML or JSON ({_yaml_problem(error)})") from None
    finally:
        if loader is not None:
            loader.dispose()


def save(schedule: Schedule, path: str | os.PathLike[str]) -> Path:
    """Write the schedule to ``path`` as YAML (.yaml/.yml) or JSON (anything else), atomically.

    Returns the path written. Read it back with :func:`load`.

    Examples:
        >>> import pathlib, tempfile, rampup
        >>> s = rampup.Linear(steps=4)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = rampup.save(s, pathlib.Path(folder) / "schedule.json")
        ...     print(path.read_text(), end="")
        {
          "shape": "linear",
          "steps": 4,
          "min_lr_ratio": 0.0,
          "endpoints": "start"
        }
    """
    target = Path(path)
    yaml_suffix = target.suffix.lower() in (".yaml", ".yml")
    text = to_yaml(schedule) if yaml_suffix else to_json(schedule, indent=2) + "\n"
    write_atomic(target, text.encode())
    return target


def load(path: str | os.PathLike[str]) -> Schedule:
    """Read a schedule written by :func:`save` (YAML, or JSON for a .json file).

    The file is read only if it is at most ``MAX_CONFIG_BYTES``; a file that cannot be read
    raises the usual ``OSError``, any problem with its content a ``RampupError``.

    Examples:
        >>> import pathlib, tempfile, rampup
        >>> s = rampup.with_warmup(rampup.Cosine(steps=90), 10)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = rampup.save(s, pathlib.Path(folder) / "schedule.yaml")
        ...     print(rampup.load(path) == s)
        True
    """
    source = Path(path)
    with source.open("rb") as stream:
        data = stream.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ScheduleValueError(
            f"{source}: larger than {MAX_CONFIG_BYTES} bytes; a schedule config is a few hundred"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScheduleValueError(f"{source}: not valid YAML or JSON (not UTF-8 text)") from None
    if source.suffix.lower() == ".json":
        return _located(source, lambda: from_dict(_parse_json(text, str(source))))
    return _located(source, lambda: from_dict(_parse_yaml(text, str(source))))


def _located(source: Path, build: Any) -> Schedule:
    """Build, naming the file in a content error that does not name it yet."""
    try:
        schedule: Schedule = build()
    except RampupError as error:
        if str(error).startswith(str(source)):
            raise
        raise type(error)(f"{source}: {error}") from None
    return schedule


def _yaml_problem(error: BaseException) -> str:
    """pyyaml's multi-line message, as one line: the problem and where it is."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return _one_line(error)


def config_differences(saved: Any, current: Any, path: str = "") -> list[str]:
    """Human-readable differences between two configs in their ``to_dict()`` form (nested dicts
    and lists), one ``"where: saved X, now Y"`` line each; an empty list when they are equal.

    A saved config is untrusted data: values that cannot be compared are reported as differences
    instead of raising, and shown abridged. (The recursion follows the current config, so a
    deeply nested saved one cannot exhaust the stack.)
    """
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        out = []
        for key in sorted(set(saved) | set(current), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in saved or key not in current:
                out.append(f"{where}: only in {'this scheduler' if key in current else 'the saved state'}")
            else:
                out.extend(config_differences(saved[key], current[key], where))
        return out
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)):
        if len(saved) != len(current):
            return [f"{path}: {len(saved)} entries saved, {len(current)} now"]
        out = []
        for i, (a, b) in enumerate(zip(saved, current, strict=True)):
            out.extend(config_differences(a, b, f"{path}[{i}]"))
        return out
    try:
        # True == 1 in Python, but a flag is not a count.
        same = isinstance(saved, bool) == isinstance(current, bool) and bool(saved == current)
    except Exception:  # e.g. an array, whose == gives no single answer
        same = False
    return [] if same else [f"{path}: saved {show(saved)}, now {show(current)}"]
