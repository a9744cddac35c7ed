"""The demo end to end: quick run, 2-process equivalence, kill-and-resume, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rampup.cli import main
from rampup.demo.experiments import EXPERIMENTS

RAMPUP = [sys.executable, "-m", "rampup"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def _finite_or_none(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quick")
    done = subprocess.run([*RAMPUP, "demo", "--quick", "--no-progress", "--out", str(out)],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_quick_demo_writes_report_and_results(quick_run: Path) -> None:
    results = _results(quick_run)
    assert set(results["experiments"]) == set(EXPERIMENTS)
    for name, make in EXPERIMENTS.items():
        experiment = make()
        variants = results["experiments"][name]["variants"]
        assert set(variants) == {v.name for v in experiment.variants}
        for record in variants.values():
            for key in ("final_train_loss", "final_val_loss", "final_val_accuracy",
                        "max_loss_spike", "seconds"):
                assert _finite_or_none(record[key]), (name, key, record[key])
            assert isinstance(record["diverged"], bool)
            assert record["seeds"] == len(record["per_seed"]) >= 1
            if not record["diverged"]:
                assert record["final_train_loss"] is not None
            if experiment.has_accuracy and not record["diverged"]:
                assert 0.0 <= record["final_val_accuracy"] <= 1.0
    report = (quick_run / "report.md").read_text()
    for name in EXPERIMENTS:
        for suffix in ("lr", "loss"):
            image = quick_run / f"{name}-{suffix}.png"
            assert image.stat().st_size > 1000
            assert image.name in report
    assert "Expected:" in report and "Result:" in report


def test_quick_demo_rates_follow_the_schedules(quick_run: Path) -> None:
    """The rates recorded during training are the schedule's, times the peak, at every step."""
    results = _results(quick_run)
    for name, make in EXPERIMENTS.items():
        experiment = make()
        for variant in experiment.variants:
            record = results["experiments"][name]["variants"][variant.name]
            seed = record["per_seed"][0]
            total = len(seed["lrs"])
            schedule = variant.schedule(total, record["steps_per_epoch"])
            expected = [variant.peak_lr * schedule(step) for step in range(total)]
            assert seed["lrs"] == expected


def test_two_processes_match_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["demo", "--quick", "--no-progress", "--experiment", "transformer", "--checkpoint-every", "0"]
    done = subprocess.run([*RAMPUP, *common, "--out", str(one)], env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rampup", *common, "--out", str(two)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    single, double = _results(one), _results(two)
    assert double["world_size"] == 2 and single["world_size"] == 1
    for variant, record in single["experiments"]["transformer"]["variants"].items():
        other = double["experiments"]["transformer"]["variants"][variant]
        for a, b in zip(record["per_seed"], other["per_seed"], strict=True):
            assert a["lrs"] == b["lrs"]
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    common = ["demo", "--quick", "--no-progress", "--experiment", "transformer", "--steps", "60",
              "--checkpoint-every", "5"]
    done = subprocess.run([*RAMPUP, *common, "--out", str(straight)], env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    process = subprocess.Popen([*RAMPUP, *common, "--out", str(killed)], env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = killed / "checkpoints" / "transformer-linear_warmup-seed0.pt"
    deadline = time.monotonic() + 240
    while not second.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "results.json").exists()

    done = subprocess.run([*RAMPUP, *common, "--resume", "--out", str(killed)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second_run = _results(straight), _results(killed)
    for variant, record in first["experiments"]["transformer"]["variants"].items():
        other = second_run["experiments"]["transformer"]["variants"][variant]
        for a, b in zip(record["per_seed"], other["per_seed"], strict=True):
            assert a["lrs"] == b["lrs"]
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "resnet"], "--experiment must be one of"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--seeds", "-1"], "--seeds must be >= 1"),
        (["--device", "tpu"], "--device must be"),
        (["--warmup", "10%"], "give --schedule"),
        (["--schedule", "cosin"], "Did you mean 'cosine'"),
    ],
)
def test_bad_demo_options_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert main(["demo", "--quick", "--no-progress", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_out_that_is_a_file_and_missing_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["demo", "--quick", "--out", str(afile)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert afile.read_text() == "x"
    empty = tmp_path / "empty"
    assert main(["demo", "--quick", "--resume", "--out", str(empty)]) == 2
    assert "no checkpoints" in capsys.readouterr().err
    assert not empty.exists()


def test_damaged_checkpoint_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume with a file that is not this run's checkpoint: exit 2, one line naming --resume
    and the file, and the file left as it was."""
    out = tmp_path / "out"
    first = EXPERIMENTS["transformer"]().variants[0].name
    damaged = out / "checkpoints" / f"transformer-{first}-seed0.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a checkpoint")
    code = main(["demo", "--quick", "--no-progress", "--experiment", "transformer", "--seeds", "1",
                 "--steps", "3", "--resume", "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--resume" in err and damaged.name in err
    assert damaged.read_bytes() == b"not a checkpoint"
    assert not (out / "results.json").exists()


def test_bad_torchrun_environment_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    code = main(["demo", "--quick", "--no-progress", "--device", "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "WORLD_SIZE" in err and "'two'" in err
