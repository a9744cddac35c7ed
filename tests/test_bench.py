"""The benchmark script runs and writes its tables (a smoke run: the numbers are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_run_writes_results(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "latest-smoke.json").read_text())
    assert set(results["per_step"]) == {"cosine with warmup", "warmup + WSD (composed)"}
    for table in results["per_step"].values():
        assert set(table) == {"1", "8", "64"}
        for row in table.values():
            assert "rampup Scheduler" in row and "hand-written closure (floor)" in row
            assert all(value > 0 for value in row.values())
    assert results["compile"]["rampup, tensor lr"]["recompiles"] in (0, None)
    text = (tmp_path / "latest-smoke.md").read_text()
    for heading in ("Per `scheduler.step()`", "A whole curve", "Memory", "torch.compile", "Targets"):
        assert heading in text
