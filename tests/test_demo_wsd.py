"""``rampup demo --experiment wsd --quick``: one constant-rate run, cooldowns branched off it,
cosine runs of the same lengths; rates checked against the formulas written here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from rampup.cli import main
from rampup.demo.experiments import LM_LR

LENGTHS, WARMUP = (8, 16, 24), 2  # --steps 24: lengths 8, 16, 24; warmup min(4, 8 // 4)


def _branch_point(length: int) -> int:
    return length - max(1, round(0.2 * length))


def _warmup(k: int) -> float:
    return LM_LR * min(1.0, (k + 1) / WARMUP)


def test_quick_wsd_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--experiment", "wsd", "--quick", "--steps", "24", "--no-progress",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "wsd: " in out and "report: " in out
    assert (tmp_path / "wsd.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "wsd.md").read_text()
    assert "**Result:**" in report and "| 24 | 19 |" in report
    saved = json.loads((tmp_path / "wsd.json").read_text())
    summary, seed = saved["summary"], saved["seeds"][0]
    assert [r["length"] for r in summary["rows"]] == list(LENGTHS)
    assert summary["updates"]["branched"] == _branch_point(24) + sum(n - _branch_point(n) for n in LENGTHS)
    assert summary["updates"]["cosine_runs"] == sum(LENGTHS)
    for length in LENGTHS:
        point, cooldown = _branch_point(length), length - _branch_point(length)
        branch, cosine = seed["branch"][str(length)], seed["cosine"][str(length)]
        expected = [_warmup(k) if k < WARMUP else LM_LR for k in range(point)]
        expected += [LM_LR * (1 - math.sqrt(j / cooldown)) for j in range(cooldown)]
        assert branch["lrs"] == pytest.approx(expected, rel=1e-12, abs=1e-18)
        # branched off the one run: its history up to the branch point is the trunk's
        assert branch["losses"][:point] == seed["trunk_losses"][:point]
        decay = length - WARMUP
        expected = [_warmup(k) if k < WARMUP else LM_LR * (0.1 + 0.9 * 0.5 * (
            1 + math.cos(math.pi * (k - WARMUP) / decay))) for k in range(length)]
        assert cosine["lrs"] == pytest.approx(expected, rel=1e-12, abs=1e-18)
        assert math.isfinite(branch["val_loss"]) and math.isfinite(cosine["val_loss"])
    row = summary["rows"][0]
    assert row["matched"] == (row["branch_val_loss"] <= row["cosine_val_loss"] * 1.01)


def test_wsd_demo_refuses_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "checkpoints").mkdir()
    assert main(["demo", "--experiment", "wsd", "--resume", "--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
