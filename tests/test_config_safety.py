"""Configs from untrusted sources: bounded in size, nesting and YAML aliases, refused with a
one-line RampupError before anything large is built; safe-loading only."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rampup
from rampup import RampupError
from rampup.config import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES, MAX_YAML_ALIASES

yaml = pytest.importorskip("yaml")


def _refused(load: Callable[[], Any], *words: str, seconds: float = 5.0) -> str:
    began = time.process_time()
    with pytest.raises(RampupError) as info:
        load()
    assert time.process_time() - began < seconds
    message = str(info.value)
    assert "\n" not in message and len(message) < 500, message
    for word in words:
        assert word in message, message
    return message


def _nested(depth: int) -> dict[str, Any]:
    data: dict[str, Any] = {"shape": "constant"}
    for _ in range(depth):
        data = {"shape": "clamp", "schedule": data}
    return data


def test_deep_nesting_is_refused_everywhere(tmp_path: Path) -> None:
    data = _nested(900)
    text = json.dumps(data)
    _refused(lambda: rampup.from_dict(data), "nest")
    _refused(lambda: rampup.from_json(text), "nest")
    _refused(lambda: rampup.from_yaml(text), "nest")
    _refused(lambda: rampup.from_json("[" * 60_000), "nest")
    _refused(lambda: rampup.from_yaml("[" * 60_000), "nest")
    _refused(lambda: rampup.from_yaml("".join("  " * i + "- \n" for i in range(200))), "nest")
    path = tmp_path / "deep.json"
    path.write_text(text)
    _refused(lambda: rampup.load(path), "nest", str(path))
    cycle: dict[str, Any] = {"shape": "clamp"}
    cycle["schedule"] = cycle
    _refused(lambda: rampup.from_dict(cycle), "nest")


def test_nesting_within_the_limit_round_trips() -> None:
    # The deepest schedule rampup builds (32 combinators) writes 65 levels: within the limit.
    s: rampup.Schedule = rampup.Constant(0.5)
    for _ in range(32):
        s = rampup.join([s], [])
    assert len(json.dumps(s.to_dict())) < MAX_CONFIG_BYTES
    assert rampup.from_json(rampup.to_json(s)) == s
    assert rampup.from_yaml(rampup.to_yaml(s)) == s
    assert MAX_CONFIG_DEPTH >= 2 * 32 + 1


def test_alias_bombs_are_refused_before_expansion() -> None:
    # The 334-byte "billion laughs": 9 ** 7 strings once expanded.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for name, previous in zip("bcdefg", "abcdef", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    bomb = "\n".join([*lines, "shape: constant"])
    assert len(bomb) < 400
    _refused(lambda: rampup.from_yaml(bomb), "alias", seconds=1.0)
    # Few aliases that still double at each level: refused by the count of values they expand to.
    doubling = [f"a: &a [{', '.join(['1'] * 1000)}]"]
    for name, previous in zip("bcdefgh", "abcdefg", strict=True):
        doubling.append(f"{name}: &{name} [*{previous}, *{previous}]")
    text = "\n".join([*doubling, "shape: multistep", "milestones: *h"])  # 128,000 values
    assert text.count("*") <= MAX_YAML_ALIASES
    _refused(lambda: rampup.from_yaml(text), "values", seconds=1.0)


def test_a_few_aliases_are_fine() -> None:
    s = rampup.from_yaml("shape: multiply\nfactors:\n  - &w {shape: warmup, steps: 10}\n  - *w\n")
    assert s == rampup.multiply(rampup.Warmup(steps=10), rampup.Warmup(steps=10))


def test_size_is_bounded(tmp_path: Path) -> None:
    _refused(lambda: rampup.from_json(" " * (MAX_CONFIG_BYTES + 1)), "bytes")
    _refused(lambda: rampup.from_yaml(b" " * (MAX_CONFIG_BYTES + 1)), "bytes")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES * 4))
    _refused(lambda: rampup.load(big), "bytes", str(big))
    wide = {"shape": "multistep", "milestones": list(range(MAX_CONFIG_VALUES + 1))}
    _refused(lambda: rampup.from_dict(wide), "values")
    many = "shape: multistep\nmilestones:\n" + "- 1\n" * (MAX_CONFIG_BYTES // 4 - 10)
    _refused(lambda: rampup.from_yaml(many), "values")


HOSTILE: list[tuple[str, Callable[[], Any], str]] = [
    ("unhashable shape", lambda: rampup.from_dict({"shape": ["constant"]}), "shape"),
    ("dict shape", lambda: rampup.from_dict({"shape": {"a": 1}}), "shape"),
    ("int key", lambda: rampup.from_dict({"shape": "constant", 1: 2}), "keys"),
    ("tuple key", lambda: rampup.from_dict({"shape": "constant", (1, 2): 2}), "keys"),
    ("yaml int key", lambda: rampup.from_yaml("shape: constant\n1: 2\n"), "keys"),
    ("5000-digit int in a dict", lambda: rampup.from_dict({"shape": "warmup", "steps": 10**5000}),
     "steps"),
    ("5000-digit int in JSON", lambda: rampup.from_json('{"shape": "constant", "value": '
                                                        + "9" * 5000 + "}"), "JSON"),
    ("5000-digit int in YAML", lambda: rampup.from_yaml("shape: constant\nvalue: " + "9" * 5000),
     "YAML"),
    ("python tag", lambda: rampup.from_yaml("!!python/object/apply:os.system [echo hi]"), "YAML"),
    ("python name tag", lambda: rampup.from_yaml("shape: !!python/name:os.system ''"), "YAML"),
    ("unknown tag", lambda: rampup.from_yaml("shape: !custom constant"), "YAML"),
    ("unhashable key", lambda: rampup.from_yaml("? [a, b]\n: 1\n"), "YAML"),
    ("two documents", lambda: rampup.from_yaml("shape: constant\n---\nshape: constant\n"), "YAML"),
    ("a set", lambda: rampup.from_yaml("shape: multistep\nmilestones: !!set {1, 2}"), "milestones"),
    ("a date", lambda: rampup.from_yaml("shape: warmup\nsteps: 2020-01-01"), "steps"),
    ("bytes", lambda: rampup.from_yaml("shape: warmup\nsteps: !!binary aGVsbG8="), "steps"),
    ("NaN", lambda: rampup.from_json('{"shape": "constant", "value": NaN}'), "value"),
    ("inf", lambda: rampup.from_json('{"shape": "constant", "value": 1e999}'), "value"),
    ("yaml inf", lambda: rampup.from_yaml("shape: constant\nvalue: .inf"), "value"),
    ("not text", lambda: rampup.from_yaml(5), "str"),  # type: ignore[arg-type]
    ("not a dict", lambda: rampup.from_json("[1, 2]"), "dict"),
    ("broken JSON", lambda: rampup.from_json('{"shape": '), "JSON"),
    ("long key", lambda: rampup.from_dict({"shape": "constant", "k" * 100_000: 1}), "unexpected"),
    ("long shape", lambda: rampup.from_dict({"shape": "c" * 100_000}), "shape"),
    ("huge milestone", lambda: rampup.from_dict({"shape": "multistep", "milestones": [10**30]}),
     "milestones"),
]


@pytest.mark.parametrize(("label", "load", "word"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_configs_are_one_line_rampup_errors(label: str, load: Callable[[], Any],
                                                    word: str) -> None:
    _refused(load, word)


def test_yaml_written_by_rampup_has_no_aliases_and_loads_back() -> None:
    warm = rampup.Warmup(steps=10)
    s = rampup.multiply(warm, rampup.join([warm, warm], [10]))  # one object used three times
    text = rampup.to_yaml(s)
    assert "&" not in text and "*" not in text
    assert rampup.from_yaml(text) == s
