"""Schedules to and from plain dicts, JSON and YAML (``to_dict`` is the source of truth).

The dict form is ``{"shape": NAME, FIELD: VALUE, ...}`` with nested schedules as nested dicts,
e.g. ``{"shape": "join", "boundaries": [500], "phases": [{"shape": "warmup", "steps": 500, ...},
{"shape": "cosine", "steps": 9500, ...}]}``. YAML needs the optional ``pyyaml`` package.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rampup.errors import ScheduleTypeError, ScheduleValueError, closest
from rampup.schedules import SHAPES, Schedule


def from_dict(data: dict[str, Any]) -> Schedule:
    """Build the schedule that ``schedule.to_dict()`` describes; unknown keys are an error."""
    if not isinstance(data, dict):
        raise ScheduleTypeError(f"a schedule config must be a dict, got {type(data).__name__}")
    if "shape" not in data:
        raise ScheduleValueError(
            f"a schedule config needs a 'shape' key (one of {', '.join(sorted(SHAPES))}); "
            f"got keys {sorted(data)}"
        )
    shape = data["shape"]
    if shape not in SHAPES:
        raise ScheduleValueError(
            f"unknown shape {shape!r}; known: {', '.join(sorted(SHAPES))}.{closest(str(shape), SHAPES)}"
        )
    cls = SHAPES[shape]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "shape":
            continue
        if key not in fields:
            raise ScheduleTypeError(
                f"{shape} got unexpected key {key!r}; valid keys: {', '.join(sorted(fields))}."
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
        return from_dict(value)
    if isinstance(value, list):
        return tuple(_revive(v) for v in value)
    return value


def to_json(schedule: Schedule, **kwargs: Any) -> str:
    """The schedule's dict form as JSON text."""
    return json.dumps(schedule.to_dict(), **kwargs)


def from_json(text: str) -> Schedule:
    """Parse JSON text written by :func:`to_json`."""
    return from_dict(json.loads(text))


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "YAML support needs pyyaml: pip install 'rampup[yaml]' (or pip install pyyaml)"
        ) from None
    return yaml


def to_yaml(schedule: Schedule) -> str:
    """The schedule's dict form as YAML text."""
    return str(_yaml().safe_dump(schedule.to_dict(), sort_keys=False))


def from_yaml(text: str) -> Schedule:
    """Parse YAML (or JSON, which is YAML) text."""
    return from_dict(_yaml().safe_load(text))


def save(schedule: Schedule, path: str | os.PathLike[str]) -> Path:
    """Write the schedule to ``path`` as YAML (.yaml/.yml) or JSON (anything else), atomically."""
    target = Path(path)
    yaml_suffix = target.suffix.lower() in (".yaml", ".yml")
    text = to_yaml(schedule) if yaml_suffix else to_json(schedule, indent=2) + "\n"
    write_atomic(target, text.encode())
    return target


def load(path: str | os.PathLike[str]) -> Schedule:
    """Read a schedule written by :func:`save` (YAML or JSON)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScheduleValueError(f"{source}: not valid YAML or JSON (not UTF-8 text)") from None
    if source.suffix.lower() == ".json":
        try:
            return from_json(text)
        except json.JSONDecodeError as error:
            raise ScheduleValueError(f"{source}: not valid JSON ({error})") from None
    try:
        data = _yaml().safe_load(text)
    except Exception as error:  # yaml.YAMLError and friends
        raise ScheduleValueError(f"{source}: not valid YAML or JSON ({_yaml_problem(error)})") from None
    return from_dict(data)


def _yaml_problem(error: Exception) -> str:
    """pyyaml's multi-line message, as one line: the problem and where it is."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so no reader sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
