"""The command line at its edges: huge and non-finite numbers, contradicting options, outputs that
cannot be written, a base install without the optional packages, and pictures of long runs."""

from __future__ import annotations

import builtins
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rampup
from rampup import plot as rplot
from rampup.cli import MAX_STEPS, main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *needles: str, kind: str = "error") -> str:
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"rampup: {kind}: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the cases of issue 10: each one line, exit 2, nothing written -----------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["plot", "cosine", "--total", "100", "-O", "total_steps=5"], ["--total", "total_steps"]),
        (["plot", "cosine", "--total", "100", "-O", "name=x"], ["-O name=x", "NAME"]),
        (["plot", "cosine", "--total", "100", "--warmup", "5", "-O", "warmup=5"], ["--warmup", "-O warmup"]),
        (["table", "cosine", "--total", "100", "--steps-per-epoch", "5", "-O", "steps_per_epoch=5"],
         ["--steps-per-epoch", "steps_per_epoch"]),
        (["table", "cosine", "--total", "100", "--cycles", "2", "-O", "num_cycles=3"],
         ["--cycles", "num_cycles"]),
        (["table", "polynomial", "--total", "100", "--lr", "1", "-O", "peak_lr=2", "-O", "lr_end=0.1"],
         ["--lr", "peak_lr"]),
        (["plot", "cosine", "--total", "100", "--lr", "inf"], ["--lr", "finite", "inf"]),
        (["table", "cosine", "--total", "100", "--lr", "inf"], ["--lr", "finite"]),
        (["table", "cosine", "--total", "100", "--lr", "nan"], ["--lr", "finite"]),
        (["table", "cosine", "--total", "100", "--min-lr-ratio", "-inf"], ["--min-lr-ratio", "finite"]),
        (["table", "cosine", "--total", "100", "-O", "num_cycles=1e400"], ["num_cycles", "finite"]),
        (["table", "cosine", "--total", "100", "-O", "num_cycles=" + "9" * 5000],
         ["num_cycles", "too large"]),
        (["table", "cosine", "--total", "9" * 5000], ["--total", "2**62"]),
        (["table", "cosine", "--total", str(MAX_STEPS + 1)], ["--total", "2**62"]),
        (["table", "cosine", "--total", "100", "--warmup", "9" * 5000], ["--warmup", "too long"]),
        (["table", "cosine", "--total", "1000000000000", "--every", "1"], ["--every 1", "--max-rows"]),
        (["table", "cosine", "--total", "100", "--every", "1", "--max-rows", "50"], ["--max-rows (50)"]),
        (["table", "cosine", "--total", "100", "--at", "1," + str(2**70)], ["--at"]),
        (["table", "cosine", "--total", "100", "--lr", "1e308", "-O", "warmup_start=1", "--warmup", "5"],
         []),
        (["steps", "--epochs", "1e308", "--batches-per-epoch", "10"], ["--epochs", "2**62"]),
        (["steps", "--epochs", "inf", "--batches-per-epoch", "10"], ["--epochs", "finite"]),
        (["steps", "--epochs", "1", "--batches-per-epoch", "1_"], ["--batches-per-epoch"]),
        (["scale", "--base-lr", "1e308", "--base-batch", "1", "--batch", "1000"], ["--base-lr", "inf"]),
        (["scale", "--base-lr", "0.1", "--base-batch", "2", "--batch", "1", "--steps-per-epoch", "0"],
         ["--steps-per-epoch"]),
        (["plot", "--config", "x.yaml", "--warmup", "5"], ["--warmup", "--config"]),
        (["plot", "--config", "."], ["--config", "folder"]),
        (["table", "cosine", "--total", "10", "--csv", "x" * 300 + ".csv"], ["--csv", "too long"]),
        (["table", "cosine", "--total", "10", "--csv", "y" * 300 + "/x.csv"], ["--csv", "too long"]),
        (["plot", "cosine", "--total", "10", "-o", "a\0b.png"], ["-o/--output", "not a file name"]),
        (["plot", "--config", "a\0b.json"], ["--config"]),
    ],
)
def test_bad_values_are_one_line_errors(workdir: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], needles: list[str]) -> None:
    rampup.save(rampup.Linear(steps=10), workdir / "x.yaml")
    code, out, err = run(capsys, *args)
    if needles:
        assert code == 2, err
        assert out == ""
        one_line(err, *needles)
    else:  # must either work with finite numbers or be refused
        assert code in (0, 2), err
        if code == 0:
            assert "inf" not in out and "nan" not in out
        else:
            one_line(err)
    assert listing(workdir) == ["x.yaml"]


def test_table_rejects_rates_that_overflow(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A multiplier above 1 times a huge --lr is inf: refused, naming --lr, with nothing printed
    or written."""
    rampup.save(rampup.Constant(2.0), workdir / "big.json")
    code, out, err = run(capsys, "table", "--config", "big.json", "--lr", "1e308", "--total", "5",
                         "--csv", "r.csv")
    assert code == 2
    assert out == ""
    one_line(err, "--lr 1e+308", "inf")
    assert listing(workdir) == ["big.json"]
    code, out, err = run(capsys, "table", "--config", "big.json", "--lr", "1e307", "--total", "5", "--json")
    assert code == 0, err
    assert {r["lr"] for r in json.loads(out)} == {2.0 * 1e307}


def test_failed_command_leaves_none_of_its_outputs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "afile").write_text("a file")
    for args in (
        ["table", "cosine", "--total", "100", "--save-config", "ok.yaml", "--csv", "afile/x.csv"],
        ["table", "cosine", "--total", "100", "--csv", "new/dir/x.csv", "--save-config", "afile/s.yaml"],
        ["table", "cosine", "--total", "100", "--csv", "new/x.csv", "--lr", "1e308", "-O", "warmup_start=1",
         "--warmup", "5", "--config", "nope.yaml"],
        ["table", "cosine", "--total", "100", "--csv", "same.json", "--save-config", "same.json"],
        ["plot", "cosine", "--total", "100", "--cycles", "1e308", "-o", "new/p.png"],
    ):
        code, out, err = run(capsys, *args)
        assert code == 2, (args, err)
        assert out == ""
        one_line(err)
        assert listing(workdir) == ["afile"], args


def test_both_outputs_written_together(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "table", "cosine", "--total", "100", "--save-config", "a/ok.yaml",
                       "--csv", "b/x.csv")
    assert code == 0
    assert listing(workdir) == ["a", "a/ok.yaml", "b", "b/x.csv"]
    assert rampup.load(workdir / "a" / "ok.yaml") == rampup.schedule("cosine", total_steps=100)
    assert "wrote b/x.csv" in out and "wrote a/ok.yaml" in out


def test_disk_full_on_the_second_file_rolls_back_the_first(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    (workdir / "s.json").write_text("old config")
    real = os.replace
    calls: list[str] = []

    def second_fails(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    code, out, err = run(capsys, "table", "cosine", "--total", "10", "--save-config", "s.json",
                         "--csv", "r.csv")
    monkeypatch.undo()
    assert code == 1  # the system refused a correct request
    assert out == ""
    one_line(err, "No space left", "r.csv")
    assert listing(workdir) == ["s.json"]
    assert (workdir / "s.json").read_text() == "old config"


# -- long runs: quick, bounded, and the picture keeps its shape --------------------------------


def test_plot_of_a_huge_run_is_quick(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.perf_counter()
    code, out, err = run(capsys, "plot", "cosine", "--total", "1000000000000000", "--warmup", "10%")
    assert code == 0, err
    assert time.perf_counter() - began < 10
    assert out.splitlines()[0] == "cosine: 1000000000000000 steps"


def _grid(out: str) -> list[str]:
    """The plot's cells: one string per row, top first, without the axis labels."""
    lines = out.splitlines()[1:-2]
    return [line.split("┤", 1)[1] for line in lines]


def test_text_plot_of_a_huge_run_shows_each_drop_in_its_column(capsys: pytest.CaptureFixture[str]) -> None:
    """MultiStep drops by 10x at two milestones 10**12 steps apart: the column holding each
    milestone spans both levels, every other column is one level (the oracle: the column of
    step s is s * columns // (total + 1), the level of a value v is round(v * (rows - 1)))."""
    total = 3 * 10**12
    milestones = (10**12 + 7, 2 * 10**12 + 13)
    code, out, _ = run(capsys, "plot", "multistep", "-O", f"milestones={milestones[0]},{milestones[1]}",
                       "-O", "gamma=0.5", "--total", str(total))
    assert code == 0
    grid = _grid(out)
    rows, columns = len(grid), len(grid[0])

    def level(value: float) -> int:
        return rows - 1 - round(value * (rows - 1))

    def filled(column: int) -> set[int]:
        return {r for r in range(rows) if grid[r][column] == "•"}

    drop_columns = {m * columns // (total + 1): i for i, m in enumerate(milestones)}
    for column in range(columns):
        if column in drop_columns:
            before = 0.5 ** drop_columns[column]
            assert filled(column) == set(range(level(before), level(before / 2) + 1)), column
        else:
            first_step = column * (total + 1) // columns
            value = 0.5 ** sum(first_step >= m for m in milestones)
            assert filled(column) == {level(value)}, column


@pytest.mark.parametrize(
    ("schedule", "jumps"),
    [
        (rampup.MultiStep((10**9 + 1, 7 * 10**11 + 3)), [10**9 + 1, 7 * 10**11 + 3]),
        (rampup.join([rampup.Linear(steps=5 * 10**11), rampup.Constant(0.3)], [5 * 10**11 + 1]),
         [5 * 10**11 + 1]),
        (rampup.SGDR(period_steps=10**11, period_mult=2.0), [10**11, 3 * 10**11]),
        (rampup.Step(step_size=333_333_333_333, gamma=0.5), [333_333_333_333, 666_666_666_666]),
    ],
)
def test_samples_hold_both_sides_of_every_jump(schedule: rampup.Schedule, jumps: list[int]) -> None:
    total = 10**12
    steps = rplot.sample_steps(total, schedule=schedule)
    assert steps.dtype == np.int64
    assert steps[0] == 0 and steps[-1] == total
    assert len(steps) < 10_000
    assert np.all(np.diff(steps) > 0)
    present = set(steps.tolist())
    for jump in jumps:
        assert {jump - 1, jump} <= present, jump


def test_samples_reach_every_triangular_peak_and_trough() -> None:
    """A triangular wave with 50 cycles over 10**10 steps: its peaks (1) and troughs (the floor)
    are sampled exactly, so the drawing spans the full height of every cycle."""
    up = 10**8
    schedule = rampup.Triangular(step_size_up=up, min_lr_ratio=0.2)
    steps = rplot.sample_steps(10**10, schedule=schedule)
    values = schedule(steps)
    for cycle in range(50):
        peak, trough = (2 * cycle + 1) * up, 2 * cycle * up
        assert values[np.searchsorted(steps, peak)] == 1.0
        assert values[np.searchsorted(steps, trough)] == pytest.approx(0.2, abs=1e-12)


def test_small_runs_are_sampled_at_every_step() -> None:
    assert rplot.sample_steps(3999).tolist() == list(range(4000))


# -- base install: no matplotlib, no pyyaml, no rich ---------------------------------------------


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Any:
    def hide(*names: str) -> None:
        real_import = builtins.__import__

        def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.split(".")[0] in names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide


def test_image_without_matplotlib_names_the_extra(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                  without: Any) -> None:
    without("matplotlib")
    for args in (["plot", "cosine", "--total", "10", "-o", "x.png"],
                 ["compare", "cosine", "linear", "--total", "10", "-o", "sub/x.svg"]):
        code, out, err = run(capsys, *args)
        assert code == 2
        assert out == ""
        one_line(err, "matplotlib", "pip install 'rampup[plot]'")
    assert listing(workdir) == []
    code, out, _ = run(capsys, "plot", "cosine", "--total", "10")  # the terminal plot needs nothing
    assert code == 0 and "•" in out


def test_yaml_without_pyyaml_names_the_extra(workdir: Path, capsys: pytest.CaptureFixture[str],
                                             without: Any) -> None:
    rampup.save(rampup.Linear(steps=10), workdir / "s.yaml")
    without("yaml")
    code, _, err = run(capsys, "table", "cosine", "--total", "10", "--save-config", "t.yaml",
                       "--csv", "r.csv")
    assert code == 2
    one_line(err, "--save-config", "pip install 'rampup[yaml]'")
    code, _, err = run(capsys, "plot", "--config", "s.yaml")
    assert code == 2
    one_line(err, "--config", "pip install 'rampup[yaml]'")
    code, _, err = run(capsys, "table", "cosine", "--total", "10", "--save-config", "t.json")
    assert code == 0, err
    assert listing(workdir) == ["s.yaml", "t.json"]


def test_tables_without_rich(capsys: pytest.CaptureFixture[str], without: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    without("rich")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    code, out, err = run(capsys, "list")
    assert code == 0, err
    assert "cosine" in out


def test_training_commands_without_torch_name_the_extra(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                       without: Any) -> None:
    without("torch")
    for args in (["find-lr", "--quick", "-o", "f.png"], ["demo", "--quick", "--out", "out"]):
        code, out, err = run(capsys, *args)
        assert code == 2, err
        assert out == ""
        one_line(err, "torch", "pip install 'rampup[")
    assert listing(workdir) == []


# -- errors that are not the user's ----------------------------------------------------------


def test_internal_error_is_one_line_with_a_hint(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import rampup.cli as cli_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(cli_module, "training_steps", broken)
    code, out, err = run(capsys, "steps", "--epochs", "1", "--batches-per-epoch", "10")
    assert code == 1
    assert out == ""
    one_line(err, "RuntimeError", "something inside broke", "RAMPUP_DEBUG=1", kind="internal error")
    monkeypatch.setenv("RAMPUP_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something inside broke"):
        main(["steps", "--epochs", "1", "--batches-per-epoch", "10"])


def test_warnings_are_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", "cosine", "--total", "10", "--warmup", "1%", "--at", "0")
    assert code == 0
    assert float(out.split()[-1]) == rampup.schedule("cosine", total_steps=10, warmup=1)(0)
    code, out, err = run(capsys, "table", "cosine", "--total", "300", "--warmup", "0.1ep",
                         "--steps-per-epoch", "3", "--at", "0")
    assert code == 0
    one_line(err, "warmup", "0.1ep", kind="warning")
    assert math.isfinite(float(out.split()[-1]))
