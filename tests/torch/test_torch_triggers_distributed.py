"""Two processes (torch.distributed, gloo, CPU): a cooldown requested on one rank starts on every
rank at the same update (worker: tests/triggers_two_process.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available() or sys.platform == "win32":
    pytest.skip("needs torch.distributed and POSIX signals", allow_module_level=True)

WORKER = Path(__file__).parents[1] / "triggers_two_process.py"


def test_every_rank_starts_the_cooldown_at_the_same_update(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text(encoding="utf-8")) for r in (0, 1)]
    # signal to rank 1 after update 5 (checked at update count 6); file seen by rank 0 after 9
    for kind, start in (("signal", 6), ("file", 10)):
        zero, one = ranks[0][kind], ranks[1][kind]
        assert zero["started_at"] == one["started_at"] == start
        assert zero["changes"] == one["changes"]
        assert [c["update"] for c in zero["changes"]] == [start]
        assert zero["rates"] == one["rates"]
        assert zero["rates"][start - 1] == 0.1 and zero["rates"][start] == 0.1
        assert zero["rates"][start + 1] == pytest.approx(0.1 * (1 - (1 / 5) ** 0.5), rel=1e-12)
