"""The command line, run as a user runs it: exit codes, one-line errors, exact numbers, files.

Most cases call ``rampup.cli.main([...])`` in-process (it returns the exit code and prints errors
to stderr); a few run ``python -m rampup`` and the console script end to end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import rampup
from rampup import plot as rplot
from rampup.cli import _spec, cli, main

pytest.importorskip("click")
pytest.importorskip("matplotlib")

EXPECTED_SHAPE = (
    round(rplot.FIGURE_SIZE[1] * rplot.FIGURE_DPI),
    round(rplot.FIGURE_SIZE[0] * rplot.FIGURE_DPI),
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert err == ""
    return out


def assert_one_line_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("rampup: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def image_shape(path: Path) -> tuple[int, ...]:
    import matplotlib.image

    return tuple(matplotlib.image.imread(path).shape)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- plot -------------------------------------------------------------------------------------


def test_plot_to_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "plot", "cosine", "--total", "1000", "--warmup", "100")
    lines = out.splitlines()
    assert lines[0] == "cosine: 1000 steps"
    assert "step 1000" in lines[-1]
    assert any("•" in line for line in lines)
    assert lines[1].strip().startswith("1 ┤")  # the top of the axis is the peak


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_image(workdir: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    target = workdir / f"x{suffix}"
    out = run_ok(capsys, "plot", "warmup_cosine", "--total", "2000", "--warmup", "5%",
                 "--lr", "3e-4", "-o", target.name)
    assert out.strip() == f"wrote {target.name}"
    assert listing(workdir) == [target.name]  # no temporary file left beside it
    if suffix == ".png":
        assert image_shape(target)[:2] == EXPECTED_SHAPE
    elif suffix == ".svg":
        assert ET.parse(target).getroot().tag.endswith("svg")
    else:
        assert target.read_bytes().startswith(b"%PDF")


def test_plot_with_epoch_axis(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_ok(capsys, "plot", "goyal", "--warmup", "5ep", "--steps-per-epoch", "50",
           "-O", "milestones=30ep,60ep,80ep", "--total", "4500", "-o", "goyal.png")
    assert image_shape(workdir / "goyal.png")[:2] == EXPECTED_SHAPE


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_have_ordinary_permissions(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_ok(capsys, "table", "cosine", "--total", "10", "--csv", "r.csv", "--save-config", "s.yaml")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("r.csv", "s.yaml"):
        assert (workdir / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


# -- compare ----------------------------------------------------------------------------------


def test_compare_names_options_and_config(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rampup.save(rampup.with_warmup(rampup.Cosine(steps=1800, min_lr_ratio=0.1), 200), "mine.yaml")
    rampup.save(rampup.Linear(steps=2000), "lin.json")
    out = run_ok(capsys, "compare", "linear", "cosine:num_cycles=1.5", "wsd:decay_fraction=0.3",
                 "mine.yaml", "lin.json", "--total", "2000", "--warmup", "200", "-o", "cmp.png")
    assert out.strip() == "wrote cmp.png"
    assert image_shape(workdir / "cmp.png")[:2] == EXPECTED_SHAPE
    assert listing(workdir) == ["cmp.png", "lin.json", "mine.yaml"]


def test_compare_spec_with_list_value() -> None:
    label, schedule, total = _spec("multistep:milestones=100,200,gamma=0.5", {"total": 300})
    assert label == "multistep:milestones=100,200,gamma=0.5"
    assert total == 300
    assert schedule == rampup.schedule("multistep", milestones=[100, 200], gamma=0.5, total_steps=300)


def test_compare_spec_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", "cosine:num_cycle=2", "--total", "100", "-o", "c.png")
    assert code == 2
    assert_one_line_error(err, "num_cycle", "num_cycles")


# -- table ------------------------------------------------------------------------------------


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_table_every(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "table", "cosine", "--total", "1000", "--warmup", "100", "--every", "300")
    rows = _rows(out)
    assert rows[0] == ["step", "multiplier"]
    expected = rampup.schedule("cosine", warmup_steps=100, total_steps=1000)
    assert [int(r[0]) for r in rows[1:]] == [0, 300, 600, 900, 1000]
    for step, value in rows[1:]:
        assert float(value) == expected(int(step))


def test_table_default_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(run_ok(capsys, "table", "linear", "--total", "1000"))[1:]
    assert int(rows[0][0]) == 0 and int(rows[-1][0]) == 1000
    assert 15 <= len(rows) <= 25


def test_table_csv_is_exact(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = [0, 1, 99, 100, 101, 500, 999, 1000, 1500]
    out = run_ok(capsys, "table", "cosine", "--total", "1000", "--warmup", "100", "--lr", "3e-4",
                 "--at", ",".join(map(str, steps)), "--csv", "rates.csv")
    assert "wrote rates.csv" in out
    with open(workdir / "rates.csv", newline="") as stream:
        records = list(csv.DictReader(stream))
    expected = rampup.schedule("cosine", warmup_steps=100, total_steps=1000)
    assert [int(r["step"]) for r in records] == steps
    for record in records:
        step = int(record["step"])
        assert float(record["multiplier"]) == expected(step)
        assert float(record["lr"]) == expected(step) * 3e-4
    assert listing(workdir) == ["rates.csv"]


def test_table_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "table", "warmup_stable_decay", "--total", "1000", "--warmup", "50",
                 "-O", "num_decay_steps=200", "--at", "0,49,50,799,800,999,1000", "--json")
    records = json.loads(out)
    expected = rampup.schedule("warmup_stable_decay", warmup_steps=50, total_steps=1000,
                               num_decay_steps=200)
    assert [r["step"] for r in records] == [0, 49, 50, 799, 800, 999, 1000]
    for record in records:
        assert set(record) == {"step", "multiplier"}
        assert record["multiplier"] == expected(record["step"])


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_table_save_config(workdir: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    out = run_ok(capsys, "table", "wsd", "--total", "1000", "--warmup", "50", "--every", "500",
                 "--save-config", f"wsd{suffix}")
    assert f"wrote wsd{suffix}" in out
    assert rampup.load(workdir / f"wsd{suffix}") == rampup.schedule("wsd", warmup_steps=50,
                                                                    total_steps=1000)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_for_plot_and_table(workdir: Path, capsys: pytest.CaptureFixture[str],
                                        suffix: str) -> None:
    schedule = rampup.join([rampup.Warmup(steps=100, curve="cosine"), rampup.SqrtDecay(steps=400)], [100])
    path = rampup.save(schedule, f"s{suffix}")
    records = json.loads(run_ok(capsys, "table", "--config", str(path), "--every", "50", "--json"))
    assert records[-1]["step"] == 500  # the schedule's own horizon, without --total
    for record in records:
        assert record["multiplier"] == schedule(record["step"])
    out = run_ok(capsys, "plot", "--config", str(path))
    assert out.splitlines()[0] == f"s{suffix}: 500 steps"
    run_ok(capsys, "plot", "--config", str(path), "--total", "800", "-o", "s.png")
    assert image_shape(workdir / "s.png")[:2] == EXPECTED_SHAPE


# -- steps, scale, list -----------------------------------------------------------------------


def test_steps_matches_hand_count(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "steps", "--epochs", "3", "--dataset-size", "10000", "--batch-size", "32",
                 "--grad-accum", "4", "--world-size", "2", "--warmup", "10%")
    # By hand: 5000 samples per process -> ceil(5000 / 32) = 157 micro-batches -> ceil(157 / 4) =
    # 40 optimizer steps per epoch -> 120 in 3 epochs; 10% warmup -> 12 steps.
    per_epoch = math.ceil(math.ceil(10000 / 2 / 32) / 4)
    assert per_epoch == 40
    assert "total optimizer steps: 120\n" in out
    assert "steps per epoch: 40\n" in out
    assert "warmup steps: 12\n" in out
    result = rampup.training_steps(epochs=3, dataset_size=10000, batch_size=32, grad_accum=4,
                                   world_size=2)
    assert (result.total, result.per_epoch) == (120, 40)
    assert result.describe() in out


def test_steps_drop_last_and_max_steps(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "steps", "--epochs", "3", "--dataset-size", "10000", "--batch-size", "32",
                 "--grad-accum", "4", "--world-size", "2", "--drop-last")
    assert "total optimizer steps: 117\n" in out  # 5000 // 32 = 156 -> 39 per epoch
    out = run_ok(capsys, "steps", "--epochs", "2", "--batches-per-epoch", "100", "--max-steps", "150",
                 "--warmup", "1ep")
    assert "total optimizer steps: 150\n" in out
    assert "warmup steps: 100\n" in out


def test_scale_linear(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "scale", "--base-lr", "0.1", "--base-batch", "256", "--batch", "8192",
                 "--steps-per-epoch", "156")
    assert out.startswith("scaled lr: 3.2 ")
    assert "x32" in out and "780 steps" in out


def test_scale_sqrt(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "scale", "--base-lr", "0.1", "--base-batch", "256", "--batch", "8192",
                 "--rule", "sqrt")
    match = re.match(r"scaled lr: (\S+) \(sqrt rule", out)
    assert match is not None
    assert float(match.group(1)) == pytest.approx(rampup.sqrt_scaling(0.1, 256, 8192), rel=1e-5)
    assert float(match.group(1)) == pytest.approx(0.1 * math.sqrt(32), rel=1e-5)


def test_scale_down_needs_no_warmup(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "scale", "--base-lr", "0.1", "--base-batch", "256", "--batch", "128")
    assert out.startswith("scaled lr: 0.05 ")
    assert "no warmup needed" in out


def test_list_names_every_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_ok(capsys, "list")
    first_words = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(rampup.names()) <= first_words


def test_list_with_click_runner() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    for name in rampup.names():
        assert name in result.output


# -- help and version -------------------------------------------------------------------------


@pytest.mark.parametrize("command", [None, *sorted(cli.commands)])
def test_help_shows_an_example(capsys: pytest.CaptureFixture[str], command: str | None) -> None:
    out = run_ok(capsys, *([command] if command else []), "--help")
    assert out.startswith("Usage: rampup")
    assert "Example" in out
    assert re.search(r"^\s+rampup \w+", out, re.MULTILINE)  # an example command line


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ok(capsys, "--version").strip() == f"rampup, version {rampup.__version__}"


def test_no_command_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2
    assert out == ""
    assert "Usage: rampup" in err and "rampup: error" not in err


# -- errors: exit code 2, one line on stderr, nothing written --------------------------------


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


BAD_CONFIGS = {
    "broken.yaml": ("shape: [cosine\nsteps: {100\n", "not valid YAML"),
    "broken.json": ('{"shape": "cosine", "steps": 100', "not valid JSON"),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\xff\x00", "not valid YAML or JSON"),
    "unknown_key.yaml": ("shape: cosine\nsteps: 100\nstep: 3\n", "unexpected key 'step'"),
    "unknown_shape.json": ('{"shape": "cosin", "steps": 100}', "Did you mean 'cosine'?"),
}


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["plot", "cosin", "--total", "100"], ["'cosin'", "Did you mean 'cosine'?"]),
        (["table", "cosine", "--total", "100", "--warmup", "200"], ["warmup (200 steps)", "100"]),
        (["plot", "cosine", "--total", "100", "--warmup", "5 ep"], ["'5 ep'", "no spaces"]),
        (["plot", "cosine", "--total", "100", "--warmup", "110%"], ["'110%'", "100%"]),
        (["plot", "cosine", "--total", "100", "--warmup", "-3"], ["'-3'"]),
        (["plot", "cosine", "--total", "100", "--warmup", "5ep"], ["steps_per_epoch"]),
        (["plot", "--config", "missing.yaml"], ["no such file", "missing.yaml"]),
        (["plot", "cosine", "--bogus"], ["--bogus"]),
        (["plot", "cosine", "--total", "100", "--power", "2"], ["--power", "cosine"]),
        (["plot", "cosine", "--total", "100", "-O", "num_cycle=2"], ["'num_cycle'", "num_cycles"]),
        (["plot", "cosine", "--total", "0"], ["--total", "0"]),
        (["plot", "cosine"], ["total_steps"]),
        (["table", "constant", "--at", "0,5"], ["never changes", "--total"]),
        (["table", "step", "-O", "step_size=10", "--at", "0,5"], ["keeps changing", "--total"]),
        (["plot", "cosine", "--total", "10", "-o", "x.jpg"], [".png", "x.jpg"]),
        (["table", "cosine", "--total", "10", "--at", "1,x"], ["--at"]),
        (["table", "cosine", "--total", "10", "--every", "2", "--at", "1"], ["--every", "--at"]),
        (["steps", "--epochs", "1", "--batches-per-epoch", "10", "--warmup", "20"], ["--warmup", "10"]),
        (["steps", "--epochs", "0", "--batches-per-epoch", "10"], ["epochs"]),
        (["scale", "--base-lr", "0.1", "--base-batch", "256"], ["--batch"]),
        (["scale", "--base-lr", "-1", "--base-batch", "256", "--batch", "512"], ["base_lr"]),
        (["list", "--all"], ["--all"]),
    ],
)
def test_usage_errors(workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                      needles: list[str]) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, *needles)
    assert listing(workdir) == []


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", ["plot", "table"])
def test_bad_config_files(workdir: Path, capsys: pytest.CaptureFixture[str], name: str,
                          command: str) -> None:
    data, needle = BAD_CONFIGS[name]
    _write(workdir / name, data)
    code, out, err = run(capsys, command, "--config", name, "--total", "100")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, needle)


def test_failed_commands_leave_no_files(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    attempts = [
        ["plot", "cosin", "--total", "100", "-o", "out.png"],
        ["plot", "cosine", "--total", "100", "--warmup", "500", "-o", "out.svg"],
        ["compare", "cosine", "lineer", "--total", "100", "-o", "cmp.png"],
        ["table", "cosine", "--total", "100", "--warmup", "500", "--csv", "r.csv", "--save-config",
         "s.yaml"],
        ["table", "cosine", "--total", "100", "--at", "x", "--csv", "new/r.csv"],
    ]
    for args in attempts:
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert_one_line_error(err)
    assert listing(workdir) == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["table", "cosine", "--total", "10", "--csv", "afile/r.csv"], "--csv"),
        (["table", "cosine", "--total", "10", "--save-config", "afile/s.json"], "--save-config"),
        (["plot", "cosine", "--total", "10", "-o", "afile/out.png"], "-o/--output"),
        (["compare", "cosine", "linear", "--total", "10", "-o", "afile/out.pdf"], "-o/--output"),
    ],
)
def test_output_under_a_file(workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                             option: str) -> None:
    (workdir / "afile").write_text("not a folder")
    code, out, err = run(capsys, *args)
    assert code == 2  # a path that cannot be a file is a bad option value, found before any work
    assert out == ""
    assert_one_line_error(err, option, "afile", "not a folder")
    assert listing(workdir) == ["afile"]
    assert (workdir / "afile").read_text() == "not a folder"


def test_interrupted_write_keeps_the_old_file(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "out.png").write_bytes(b"old")
    (workdir / "r.csv").write_text("old")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    for args in (["plot", "cosine", "--total", "10", "-o", "out.png"],
                 ["table", "cosine", "--total", "10", "--csv", "r.csv"]):
        code, _, err = run(capsys, *args)
        assert code == 1
        assert_one_line_error(err, "No space left")
    assert listing(workdir) == ["out.png", "r.csv"]
    assert (workdir / "out.png").read_bytes() == b"old"
    assert (workdir / "r.csv").read_text() == "old"


# -- end to end, in a fresh process ----------------------------------------------------------


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rampup", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def test_python_m_help(tmp_path: Path) -> None:
    done = _python_m("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: rampup")
    for command in ("plot", "compare", "table", "steps", "scale", "list"):
        assert command in done.stdout


def test_python_m_plot_png(tmp_path: Path) -> None:
    done = _python_m("plot", "warmup_cosine", "--total", "5000", "--warmup", "250", "--lr", "1e-3",
                     "-o", "plot.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote plot.png"
    assert image_shape(tmp_path / "plot.png")[:2] == EXPECTED_SHAPE
    assert listing(tmp_path) == ["plot.png"]


def test_python_m_table_csv(tmp_path: Path) -> None:
    done = _python_m("table", "linear", "--total", "100", "--warmup", "10", "--every", "7",
                     "--csv", "out/r.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = rampup.schedule("linear", warmup_steps=10, total_steps=100)
    with open(tmp_path / "out" / "r.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["step", "multiplier"]
    assert [int(r[0]) for r in rows[1:]] == [*range(0, 100, 7), 100]
    assert all(float(value) == expected(int(step)) for step, value in rows[1:])


def test_python_m_error_is_one_line(tmp_path: Path) -> None:
    done = _python_m("plot", "cosin", "--total", "100", "-o", "x.png", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_line_error(done.stderr, "Did you mean 'cosine'?")
    assert listing(tmp_path) == []


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / ("rampup.exe" if os.name == "nt" else "rampup")
    if not script.exists():
        pytest.skip("the rampup console script is not installed next to this Python")
    done = subprocess.run([str(script), "table", "constant_with_warmup", "--warmup", "4", "--every", "2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    expected = rampup.schedule("constant_with_warmup", warmup_steps=4)
    rows = _rows(done.stdout)[1:]
    assert [int(r[0]) for r in rows] == [0, 2, 4]  # the schedule's horizon, without --total
    assert [float(r[1]) for r in rows] == [expected(0), expected(2), expected(4)]
