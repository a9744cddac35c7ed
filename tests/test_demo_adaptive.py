"""``rampup demo --experiment adaptive --quick`` end to end: report, results and their numbers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from rampup.demo import adaptive as study
from rampup.demo import adaptive_report

RAMPUP = [sys.executable, "-m", "rampup"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("adaptive")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*RAMPUP, "demo", "--experiment", "adaptive", "--quick", "--no-progress",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_quick_adaptive_demo_writes_its_report(quick: tuple[Path, str]) -> None:
    out, stdout = quick
    results = json.loads((out / "adaptive" / "results.json").read_text())
    keys = [s["key"] for s in results["studies"]]
    assert keys == ([f"transformer@{r:g}" for r in study.LM_RATES]
                    + [f"large_batch@k={k}" for k in study.SCALES])
    report = (out / "adaptive" / "report.md").read_text()
    for summary in results["studies"]:
        assert summary["label"] in report and summary["verdict"]["text"] in report
        assert summary["verdict"]["text"] in stdout
        names = {"no_warmup", "adaptive"} | ({"gradual_5ep"} if summary["family"] == "large_batch" else
                                             {"warmup_2%", "warmup_10%", "warmup_30%", "untuned"})
        assert set(summary["variants"]) == names
        total = summary["total_steps"]
        for seed in summary["variants"]["adaptive"]["per_seed"]:
            warmup = seed["warmup"]
            assert warmup["min_warmup"] == max(math.ceil(study.MIN_FRACTION * total - 1e-9), 7)
            assert warmup["max_warmup"] == math.ceil(study.MAX_FRACTION * total - 1e-9)
            if warmup["warmup_done"]:
                assert warmup["min_warmup"] <= warmup["warmup_updates"] <= warmup["max_warmup"]
            assert len(seed["lrs"]) == total or seed["diverged"]
    for family in ("transformer", "large_batch"):
        assert (out / "adaptive" / f"adaptive-{family}-lr.png").stat().st_size > 1000
        assert f"adaptive-{family}-lr.png" in report
    assert not (out / "report.md").exists()  # only the adaptive study ran


def test_quick_adaptive_report_is_written_again_from_its_results(quick: tuple[Path, str],
                                                                tmp_path: Path) -> None:
    out, _ = quick
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.json").write_bytes((out / "adaptive" / "results.json").read_bytes())
    assert adaptive_report.rewrite_report(copy) == copy / "report.md"
    assert (copy / "report.md").read_text() == (out / "adaptive" / "report.md").read_text()
    assert (copy / "adaptive-transformer-lr.png").exists()


def test_quick_adaptive_demo_rates_follow_the_plans(quick: tuple[Path, str]) -> None:
    out, _ = quick
    results = json.loads((out / "adaptive" / "results.json").read_text())
    lm = results["studies"][1]  # transformer at 3e-3
    total, peak = lm["total_steps"], 3e-3
    warm = math.ceil(0.1 * total - 1e-9)
    rates = lm["variants"]["warmup_10%"]["per_seed"][0]["lrs"]
    for u in range(warm):
        assert rates[u] == pytest.approx(peak * (u + 1) / warm, rel=1e-12)
    # adaptive: the first updates (before any signal is read) climb the shortest warmup's ramp
    adaptive = lm["variants"]["adaptive"]["per_seed"][0]
    shortest = adaptive["warmup"]["min_warmup"]
    assert adaptive["lrs"][0] == pytest.approx(peak / shortest, rel=1e-12)
    assert max(adaptive["lrs"]) == pytest.approx(peak, rel=1e-12)
    # the last update: the re-planned cosine at time w + floor((T-1-u_w) * (T-w) / (T-u_w))
    end = adaptive["warmup"]["warmup_updates"]
    time = shortest + (total - 1 - end) * (total - shortest) // (total - end)
    k = (time - shortest) / (total - shortest)
    assert adaptive["lrs"][-1] == pytest.approx(peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k))),
                                                rel=1e-12)


def _case(family: str, values: dict[str, list[float | None]]) -> dict[str, object]:
    """A summary as summarise() makes it, from per-seed values (None: a diverged seed)."""
    variants = {}
    for name, seeds in values.items():
        good = [v for v in seeds if v is not None]
        mean = sum(good) / len(good) if good else None
        spread = max(good) - min(good) if len(good) > 1 else 0.0
        variants[name] = {"final_train_loss": mean, "spread": spread, "final_val_accuracy": mean,
                          "per_seed": [{"seed": i, "final_train_loss": v, "final_val_accuracy": v}
                                       for i, v in enumerate(seeds)],
                          "accuracy_spread": spread, "diverged_seeds": seeds.count(None),
                          "seeds": len(seeds)}
    return {"family": family, "variants": variants}


def test_verdict_compares_with_the_best_fixed_variant_within_the_larger_seed_spread() -> None:
    # best fixed: b (mean 2.05, spread 0.1); adaptive mean 2.12, spread 0.04: gap 0.07 <= 0.1
    case = _case("transformer", {"a": [2.3, 2.4], "b": [2.0, 2.1], "adaptive": [2.1, 2.14]})
    v = adaptive_report.verdict(case)
    assert v["best"] == "b" and v["within"] and v["trains"]
    assert v["gap"] == pytest.approx(0.07) and v["noise"] == pytest.approx(0.1)
    assert v["text"].startswith("Met")
    # adaptive 2.2: gap 0.15 beyond 0.1, but not a stall (0.15 < 0.25)
    v = adaptive_report.verdict(_case("transformer", {"b": [2.0, 2.1], "adaptive": [2.18, 2.22]}))
    assert not v["within"] and v["trains"] and v["text"].startswith("Missed")
    # adaptive 2.4: 0.35 behind, beyond the noise and above STALLED: a stall
    v = adaptive_report.verdict(_case("transformer", {"b": [2.0, 2.1], "adaptive": [2.38, 2.42]}))
    assert not v["within"] and not v["trains"] and "stalled" in v["text"]


def test_verdict_skips_diverged_fixed_variants_and_counts_adaptive_divergence() -> None:
    # "a" has the lowest mean of its trained seeds but diverged on one: not a candidate
    case = _case("transformer", {"a": [1.0, None], "b": [2.0, 2.0], "adaptive": [2.0, 2.0]})
    v = adaptive_report.verdict(case)
    assert v["best"] == "b" and v["within"] and v["gap"] == pytest.approx(0.0)
    v = adaptive_report.verdict(_case("transformer", {"b": [2.0, 2.0], "adaptive": [2.0, None]}))
    assert v["within"] is False and v["trains"] is False and "diverged on 1 of 2" in v["text"]
    v = adaptive_report.verdict(_case("transformer", {"b": [None, 2.0], "adaptive": [2.0, 2.0]}))
    assert v["within"] is None


def test_verdict_on_accuracy_prefers_the_highest() -> None:
    # best fixed: gradual (0.80, spread 0.02); adaptive 0.75: 5 points behind, beyond the noise
    case = _case("large_batch", {"no_warmup": [0.7, 0.72], "gradual": [0.79, 0.81],
                                 "adaptive": [0.74, 0.76]})
    v = adaptive_report.verdict(case)
    assert v["best"] == "gradual" and not v["within"] and v["trains"]
    assert v["gap"] == pytest.approx(0.05) and "5.0 points" in v["text"]
    v = adaptive_report.verdict(_case("large_batch", {"gradual": [0.79, 0.81], "adaptive": [0.6, 0.62]}))
    assert not v["trains"]  # 19 points behind: a stall


def test_verdict_counts_a_seed_that_failed_as_a_stall_even_within_the_noise() -> None:
    # adaptive 0.84 and 0.44 against gradual 0.68 and 0.84: the mean is 16 points behind, within
    # the seed noise (adaptive's own spread, 40 points), but seed 1 is 40 points behind its pair
    v = adaptive_report.verdict(_case("large_batch", {"gradual": [0.68, 0.84], "adaptive": [0.84, 0.44]}))
    assert v["within"] and not v["trains"]
    assert v["paired"] == pytest.approx([-0.16, 0.40])
    assert "stalled on seed 1" in v["text"] and "adaptive's own seed spread" in v["text"]
    # the same on a loss: seed 0 is 0.3 behind (> 0.25), the mean only 0.1 (noise 0.4)
    v = adaptive_report.verdict(_case("transformer", {"b": [2.0, 2.2], "adaptive": [2.3, 2.1]}))
    assert v["within"] and not v["trains"] and "stalled on seed 0" in v["text"]
