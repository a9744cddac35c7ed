"""``rampup plot --state``: a saved Scheduler's executed and planned rates, changes marked.

The executed rates are checked against the rates the optimizer actually ran at, recorded during
the live run; the planned part against the live scheduler continuing.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

import rampup
from rampup.cli import main
from rampup.history import history, load_state
from rampup.torch import Scheduler

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")


def _run(tmp_path: Path, wrap: Any = lambda s: {"scheduler": s}) -> tuple[Path, dict[int, float], Scheduler]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    scheduler = Scheduler(optimizer, rampup.schedule("warmup_cosine", warmup_steps=50, total_steps=1000))
    ran = {0: optimizer.param_groups[0]["lr"]}
    for k in range(1, 801):
        optimizer.step()
        scheduler.step()
        ran[k] = optimizer.param_groups[0]["lr"]
        if k == 300:
            scheduler.extend(1500)
        if k == 700:
            scheduler.cooldown(200, shape="linear")
    path = tmp_path / "checkpoint.pt"
    torch.save(wrap(scheduler.state_dict()), path)
    return path, ran, scheduler


def test_history_is_what_ran_and_what_is_planned(tmp_path: Path) -> None:
    path, ran, live = _run(tmp_path)
    drawn = history(load_state(path))
    assert drawn.position == 800 and drawn.end == 900
    assert [c["op"] for c in drawn.changes] == ["extend", "cooldown"]
    for step, rate in zip(drawn.steps.tolist(), drawn.rates.tolist(), strict=True):
        if step <= 800:
            assert rate == pytest.approx(ran[step], rel=1e-12, abs=1e-18)
    ahead = {}
    for k in range(801, 960):
        live.optimizer.step()
        live.step()
        ahead[k] = live.optimizer.param_groups[0]["lr"]
    for step, rate in zip(drawn.steps.tolist(), drawn.rates.tolist(), strict=True):
        if step in ahead:
            assert rate == pytest.approx(ahead[step], rel=1e-12, abs=1e-18)


def test_plot_state_text_and_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = _run(tmp_path, wrap=lambda s: {"lr_schedulers": [s], "epoch": 3})
    assert main(["plot", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    assert "#" in out and "^" in out and "|" in out
    assert "update 300 (updates 300): extend(total_steps=1500)" in out
    assert "update 700 (updates 700): cooldown(steps=200, shape=linear, floor=0.0)" in out
    image = tmp_path / "plan.png"
    assert main(["plot", "--state", str(path), "-o", str(image)]) == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _Evil:
    def __reduce__(self) -> Any:
        return (print, ("this must not run",))


@pytest.mark.parametrize("case", ["not a file", "garbage", "unsafe pickle", "no state", "with name"])
def test_plot_state_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    path = tmp_path / "bad.pt"
    args = ["plot", "--state", str(path)]
    if case == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif case == "unsafe pickle":
        path.write_bytes(pickle.dumps({"scheduler": _Evil()}))
    elif case == "no state":
        torch.save({"model": {"w": torch.zeros(2)}}, path)
    elif case == "with name":
        path, _, _ = _run(tmp_path)
        args = ["plot", "cosine", "--state", str(path)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "this must not run" not in captured.out
    assert "Traceback" not in captured.err
    assert "--state" in captured.err or "state" in captured.err.lower()
