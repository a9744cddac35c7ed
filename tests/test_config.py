"""Schedules to and from dicts, JSON, YAML and files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rampup
from rampup import ScheduleTypeError, ScheduleValueError

EXAMPLES = [
    rampup.Warmup(steps=10, curve="exponential"),
    rampup.Constant(0.5),
    rampup.Linear(steps=7, min_lr_ratio=0.1, endpoints="both"),
    rampup.Cosine(steps=100, cycles=1.5, min_lr_ratio=0.05),
    rampup.CosineRestarts(steps=50, cycles=3),
    rampup.Polynomial(steps=20, power=2.0, lr_end=1e-7, peak_lr=3e-4),
    rampup.SqrtDecay(steps=9, min_lr_ratio=0.2),
    rampup.Step(step_size=3, gamma=0.5),
    rampup.MultiStep(milestones=(3, 9), gamma=0.3),
    rampup.Exponential(rate=0.01),
    rampup.InverseSqrt(timescale=30),
    rampup.SGDR(period_steps=4, period_mult=1.5, peak_decay=0.8, max_cycles=4),
    rampup.OneCycle(steps=50, three_phase=True, anneal="linear"),
    rampup.Triangular(step_size_up=3, step_size_down=5, mode="triangular2"),
    rampup.clamp(rampup.multiply(rampup.Warmup(steps=5), rampup.Cosine(steps=40)), 0.1, 0.9),
    rampup.schedule("warmup_stable_decay", warmup_steps=5, total_steps=60, num_decay_steps=10,
                    num_cycles=1.0),
    rampup.schedule("cosine", warmup_steps=10, total_steps=100),
    rampup.schedule("goyal", warmup_steps=5, milestones=[30, 60]),
    rampup.join([rampup.Constant(0.1), rampup.join([rampup.Warmup(steps=3), rampup.Linear(steps=9)],
                                                   [3])], [4], clock="absolute"),
]
STEPS = np.arange(120)


def _same_values(a: rampup.Schedule, b: rampup.Schedule) -> None:
    assert [a(int(t)) for t in STEPS] == [b(int(t)) for t in STEPS]
    np.testing.assert_array_equal(a(STEPS), b(STEPS))


@pytest.mark.parametrize("s", EXAMPLES, ids=lambda s: s.shape)
def test_round_trips(s: rampup.Schedule) -> None:
    data = s.to_dict()
    json.dumps(data)  # plain, JSON-ready
    for back in (
        rampup.from_dict(data),
        rampup.from_json(rampup.to_json(s)),
        rampup.from_dict(json.loads(json.dumps(data))),
    ):
        assert back == s
        assert type(back) is type(s)
        _same_values(back, s)


@pytest.mark.parametrize("s", EXAMPLES, ids=lambda s: s.shape)
def test_yaml_round_trips(s: rampup.Schedule) -> None:
    pytest.importorskip("yaml")
    back = rampup.from_yaml(rampup.to_yaml(s))
    assert back == s
    _same_values(back, s)


def test_dict_form() -> None:
    s = rampup.schedule("cosine", warmup_steps=10, total_steps=100)
    data = s.to_dict()
    assert data["shape"] == "join"
    assert data["boundaries"] == [10]
    assert data["clock"] == "relative"
    warm, main = data["phases"]
    assert warm == {"shape": "warmup", "steps": 10, "curve": "linear", "start": 0.0,
                    "endpoints": "start"}
    assert main["shape"] == "cosine"
    assert main["steps"] == 90


def test_from_dict_written_by_hand() -> None:
    s = rampup.from_dict({"shape": "join", "boundaries": [5],
                          "phases": [{"shape": "warmup", "steps": 5},
                                     {"shape": "cosine", "steps": 20}]})
    assert s == rampup.with_warmup(rampup.Cosine(steps=20), 5)


def test_numpy_scalars_serialise() -> None:
    # Fields accept numpy numbers (e.g. step counts computed with numpy); they must still write.
    s = rampup.Warmup(steps=np.int64(5), start=np.float32(0.5))
    back = rampup.from_json(rampup.to_json(s))
    assert back == s
    assert back(2) == s(2)
    j = rampup.join([rampup.Constant(np.float64(0.5)), rampup.Linear(steps=np.int32(4))],
                    [np.int64(3)])
    assert rampup.from_json(rampup.to_json(j)) == j
    pytest.importorskip("yaml")
    assert rampup.from_yaml(rampup.to_yaml(s)) == s


def test_from_dict_errors() -> None:
    with pytest.raises(ScheduleValueError, match="'cosine'"):
        rampup.from_dict({"shape": "cosin", "steps": 3})
    with pytest.raises(ScheduleTypeError, match=r"stepz.*steps"):
        rampup.from_dict({"shape": "cosine", "stepz": 3})
    with pytest.raises(ScheduleValueError, match="shape"):
        rampup.from_dict({"steps": 3})
    with pytest.raises(ScheduleTypeError, match="dict"):
        rampup.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ScheduleTypeError, match="steps"):
        rampup.from_dict({"shape": "cosine"})  # a missing required field
    with pytest.raises(ScheduleValueError, match="min_lr_ratio"):
        rampup.from_dict({"shape": "cosine", "steps": 3, "min_lr_ratio": 2.0})


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".txt"])
def test_save_and_load(tmp_path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    if suffix != ".json":
        pytest.importorskip("yaml")
    s = EXAMPLES[-1]
    path = rampup.save(s, tmp_path / "sub" / f"schedule{suffix}")
    assert path.exists()
    assert rampup.load(path) == s
    if suffix in (".json", ".txt"):
        assert json.loads(path.read_text())["shape"] == "join"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_load_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScheduleValueError, match="JSON"):
        rampup.load(bad)
    pytest.importorskip("yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("shape: [unclosed")
    with pytest.raises(ScheduleValueError, match="YAML"):
        rampup.load(bad_yaml)


def test_config_differences_names_each_field_that_differs() -> None:
    from rampup.config import config_differences

    saved = rampup.with_warmup(rampup.Cosine(steps=90, min_lr_ratio=0.1), 10).to_dict()
    current = rampup.with_warmup(rampup.Cosine(steps=80, min_lr_ratio=0.1), 10).to_dict()
    assert config_differences(saved, saved) == []
    assert config_differences(saved, current, "s") == ["s.phases[1].steps: saved 90, now 80"]
    assert config_differences({"a": 1, "b": [1, 2]}, {"b": [1], "c": 2}) == [
        "a: only in the saved state", "b: 2 entries saved, 1 now", "c: only in this scheduler"]
    # A flag is not a count, and values that cannot be compared are a difference, not an error.
    assert config_differences({"x": True}, {"x": 1}) == ["x: saved True, now 1"]
    assert config_differences([np.arange(3)], [np.arange(3)]) != []
