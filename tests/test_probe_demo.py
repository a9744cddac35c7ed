"""`rampup find-lr` and `rampup demo --experiment probe --quick`, end to end on the demo's tiny models."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the range test needs PyTorch")
pytest.importorskip("torch_lr_finder", reason="the probe demo compares with torch-lr-finder")
pytest.importorskip("lightning", reason="the probe demo compares with Lightning's Tuner")
pytest.importorskip("mnist1d", reason="the demo's large-batch model trains on MNIST-1D")

from rampup.cli import main  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.chdir(tmp_path)  # the demo caches its generated data under runs/demo/.cache
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_find_lr_command_writes_the_figure_and_restores(tmp_path: Path, capsys: Any) -> None:
    assert main(["find-lr", "--quick", "--model", "transformer", "--steps", "30", "-o", "t.png"]) == 0
    out = capsys.readouterr().out
    assert ("suggested peak rate" in out or "no suggestion" in out) and "wrote t.png" in out
    assert (tmp_path / "t.png").stat().st_size > 5000
    assert main(["find-lr", "--quick", "--model", "large_batch", "--steps", "30", "--critical", "--json",
                 "-o", "l.png"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["lrs"]) == len(data["raw_losses"]) <= 30
    assert data["lrs"][0] == pytest.approx(1e-7)
    assert data["critical"]["trials"] and (tmp_path / "l.png").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "resnet"], "--model"),
    (["--steps", "5"], "steps"),
    (["--min-lr", "0"], "min_lr"),
    (["--min-lr", "1", "--max-lr", "0.1"], "min_lr"),
    (["-o", "figure.txt"], "--output"),
])
def test_find_lr_command_bad_input(args: list[str], message: str, capsys: Any, tmp_path: Path) -> None:
    assert main(["find-lr", "--quick", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_quick_probe_demo_reports_every_measurement(tmp_path: Path, capsys: Any) -> None:
    assert main(["demo", "--experiment", "probe", "--quick", "--no-progress", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    folder = tmp_path / "out" / "probe"
    results = json.loads((folder / "results.json").read_text())
    assert set(results["models"]) == {"transformer", "large_batch"}
    seeds = results["sizes"]["seeds"]
    for name, result in results["models"].items():
        for finder in ("rampup", "torch-lr-finder", "lightning"):
            data = result["finders"][finder]
            assert len(data["suggestions"]) == seeds
            assert all(v is None or (v > 0 and math.isfinite(v)) for v in data["suggestions"])
        grid = result["grid"]
        assert len(grid["runs"]) == results["sizes"]["grid_points"]
        rates = grid["rates"]
        assert rates[-1] / rates[0] == pytest.approx(100.0)  # two decades
        critical = result["critical"]
        assert critical["trials"] and {"rate", "catapult_rate", "reason"} <= critical.keys()
        assert len(result["verdicts"]) == 3
        for line in result["verdicts"]:
            assert line.split(":")[0] in ("Spread", "Quality", "Critical-rate warmup")
            assert f"probe/{name}: {line}" in printed
        for kind in ("sweeps", "grid", "critical"):
            image = folder / f"probe-{name}-{kind}.png"
            assert image.stat().st_size > 5000
            assert image.name in (folder / "report.md").read_text()
    report = (folder / "report.md").read_text()
    assert "## Summary" in report and "Targets:" in report


def test_probe_scale_trains_each_multiple_of_the_suggestion_with_the_named_optimizer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rampup.demo import probe_scale

    monkeypatch.setattr(probe_scale, "PAIRS", {"resnet-adamw": probe_scale.PAIRS["resnet-adamw"]})
    setup = probe_scale._setup("resnet-adamw", True, tmp_path / "cache")
    assert type(setup.optimizer(setup.model(0))) is torch.optim.AdamW  # not the demo's SGD
    results = probe_scale.run_probe_scale(tmp_path / "out", quick=True, workers=1,
                                          cache=tmp_path / "cache")
    data = results["pairs"]["resnet-adamw"]
    s = data["suggestion"]
    assert s is not None and s > 0
    assert [row["lr"] for row in data["by_multiple"]] == [m * s for m in probe_scale.QUICK_MULTIPLES]
    for row in data["by_multiple"]:
        assert len(row["losses"]) == data["seeds"] == 2
    report = (tmp_path / "out" / "report.md").read_text()
    assert report == probe_scale.report(json.loads((tmp_path / "out" / "results.json").read_text()))


def test_probe_scale_report_scores_each_multiple_against_the_best_median() -> None:
    from rampup.demo.probe_scale import report

    row = {"multiple": 1.0, "lr": 0.1, "losses": [0.3, 0.2, 0.25], "median": 0.25}
    results = {"seconds": 60.0, "orders": 3, "pairs": {"p": {
        "title": "A model", "suggestion": 0.1, "suggestions": [0.1, 0.09, 0.11], "bottoms": [0.2],
        "seeds": 3, "by_multiple": [row, {"multiple": 2.0, "lr": 0.2, "losses": [0.1, None, 0.2],
                                          "median": 0.15}]}}}
    text = report(results)
    assert "| 1 | 0.1 | 0.250 | 1.67 | 0.300, 0.200, 0.250 |" in text  # 0.25 / 0.15
    assert "| 2 | 0.2 | 0.150 | 1.00 | 0.100, div, 0.200 |" in text
    assert "Best median at 2 x s (0.2); training at the suggestion itself ends at 1.67x" in text


def test_probe_scale_rejects_a_worker_count_below_one_before_any_run(tmp_path: Path) -> None:
    from rampup.demo.probe_scale import run_probe_scale
    from rampup.errors import RampupError

    with pytest.raises(RampupError, match="workers"):
        run_probe_scale(tmp_path / "out", quick=True, workers=0)
    assert not (tmp_path / "out").exists()
    from rampup.demo.probe_scale import main as probe_scale_main

    with pytest.raises(SystemExit) as exit_info:  # the command line: a usage error, exit status 2
        probe_scale_main([str(tmp_path / "out"), "--workers", "-1"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "out").exists()


def test_a_diverged_run_counts_as_worse_than_any_loss_in_a_median() -> None:
    from rampup.demo.probe_report import median_of

    assert median_of([0.1, None, 0.2]) == 0.2  # sorted: 0.1, 0.2, diverged
    assert median_of([0.3, None, None]) is None  # the middle run diverged
    assert median_of([]) is None
