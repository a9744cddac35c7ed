"""``rampup demo --experiment wsd``: cooldowns branched from one constant-rate run vs cosine runs.

The demo's Post-LN Transformer language model trains with a linear warmup and then a constant
rate (rampup's open-ended ``wsd`` schedule). At 80% of each of three lengths a checkpoint of that
one run is resumed into a fresh scheduler built with the same schedule and
``scheduler.cooldown(0.2 * length)`` (1-sqrt, to 0) runs to the length. Against it: a separate
cosine run (the same warmup, then cosine to 10% of the peak) of each length. Every run sees the
same batches at the same step (a batch is a function of the seed and the step), so the comparison
is paired. Hägele et al. (2024) report that such cooldowns match cosine; the report says whether
that appeared here, and how many updates branching saved.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import rampup
from rampup._files import Outputs
from rampup.demo import data as datasets
from rampup.demo.experiments import LM_LR, _lm_batch, _lm_optimizer
from rampup.demo.models import PostLNLanguageModel
from rampup.demo.train import world
from rampup.torch import Scheduler

COOLDOWN_FRACTION = 0.2
COSINE_FLOOR = 0.1  # Hägele et al.'s cosine baseline decays to 10% of the peak
MATCH_TOLERANCE = 0.01  # "matched": the branch's val loss is at most 1% above cosine's


@dataclass(frozen=True)
class WsdSizes:
    lengths: tuple[int, ...]
    warmup: int
    seeds: int
    width: int
    layers: int
    context: int
    text_bytes: int
    batch: int = 16
    eval_windows: int = 256


FULL = WsdSizes(lengths=(300, 600, 900), warmup=60, seeds=2, width=128, layers=6, context=64,
                text_bytes=3_000_000)
QUICK = WsdSizes(lengths=(12, 24, 36), warmup=4, seeds=1, width=32, layers=2, context=16,
                 text_bytes=200_000, eval_windows=32)


def sizes_for(quick: bool, steps: int | None, seeds: int | None) -> WsdSizes:
    """The sizes to run: ``steps`` is the longest length (the others are 1/3 and 2/3 of it)."""
    base = QUICK if quick else FULL
    lengths = base.lengths if steps is None else (max(3, steps // 3), max(6, 2 * steps // 3),
                                                  max(9, steps))
    warmup = min(base.warmup, lengths[0] // 4)
    return WsdSizes(lengths, warmup, seeds or base.seeds, base.width, base.layers, base.context,
                    base.text_bytes, base.batch, base.eval_windows)


@torch.no_grad()
def _val_loss(model: nn.Module, text: datasets.TextData, context: int, windows: int,
              device: torch.device) -> float:
    """Mean next-byte loss over a fixed set of validation windows (the same for every run)."""
    generator = torch.Generator().manual_seed(12345)
    starts = torch.randint(0, text.val.numel() - context - 1, (windows,), generator=generator)
    total = 0.0
    for first in range(0, windows, 64):
        chunk = starts[first:first + 64].tolist()
        batch = torch.stack([text.val[s:s + context + 1] for s in chunk]).long().to(device)
        logits = model(batch[:, :-1])
        total += float(nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"))
    return total / (windows * context)


class _Run:
    """A model, its optimizer and a rampup Scheduler, trained step by step on the shared data."""

    def __init__(self, sizes: WsdSizes, schedule: rampup.Schedule, seed: int,
                 device: torch.device) -> None:
        torch.manual_seed(seed)  # the same initial weights for every run of a seed
        self.model = PostLNLanguageModel(width=sizes.width, layers=sizes.layers,
                                         context=sizes.context).to(device)
        _, size = world()
        self.wrapped: nn.Module = (nn.parallel.DistributedDataParallel(self.model) if size > 1
                                   else self.model)
        self.optimizer = _lm_optimizer(self.model.parameters(), LM_LR)
        self.scheduler = Scheduler(self.optimizer, schedule)
        self.step, self.seed, self.sizes, self.device = 0, seed, sizes, device
        self.lrs: list[float] = []
        self.losses: list[float] = []

    def train_to(self, stop: int, text: datasets.TextData, on_step: Callable[[], None]) -> None:
        rank, size = world()
        while self.step < stop:
            inputs, targets = _lm_batch(text, self.seed, self.step, self.sizes.batch, rank, size,
                                        self.sizes.context)
            logits = self.wrapped(inputs.to(self.device))
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               targets.to(self.device).reshape(-1))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            self.lrs.append(self.scheduler.get_last_lr()[0])
            self.optimizer.step()
            self.scheduler.step()
            value = loss.detach()
            if size > 1:
                dist.all_reduce(value)
                value /= size
            self.losses.append(float(value))
            self.step += 1
            on_step()

    def checkpoint(self) -> dict[str, Any]:
        return copy.deepcopy({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                              "scheduler": self.scheduler.state_dict(), "step": self.step,
                              "lrs": self.lrs, "losses": self.losses})

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])  # built with the same (open-ended) schedule
        self.step, self.lrs, self.losses = state["step"], list(state["lrs"]), list(state["losses"])


def run_wsd(sizes: WsdSizes, device: torch.device, out: Path, command: str,
            progress: bool = False) -> dict[str, Any]:
    """Train everything; rank 0 writes wsd.md, wsd.json and wsd.png into ``out``."""
    rank, _ = world()
    text = datasets.stdlib_text(max_bytes=sizes.text_bytes)
    wsd = rampup.schedule("wsd", warmup_steps=sizes.warmup)  # open-ended: warmup, then the peak
    done = [0]
    planned = sizes.seeds * (sum(sizes.lengths) + _branched_steps(sizes))

    def tick() -> None:
        done[0] += 1
        if progress and rank == 0 and (done[0] % 50 == 0 or done[0] == planned):
            print(f"  wsd: {done[0]}/{planned} updates", flush=True)

    seeds: list[dict[str, Any]] = []
    for seed in range(sizes.seeds):
        record: dict[str, Any] = {"seed": seed, "cosine": {}, "branch": {}, "seconds": {}}
        began = time.perf_counter()
        trunk = _Run(sizes, wsd, seed, device)
        checkpoints = {}
        for length in sizes.lengths:  # one constant-rate run, a checkpoint at each branch point
            trunk.train_to(_branch_point(length), text, tick)
            checkpoints[length] = trunk.checkpoint()
        record["trunk_losses"] = trunk.losses
        for length in sizes.lengths:
            branch = _Run(sizes, wsd, seed, device)
            branch.restore(checkpoints[length])
            branch.scheduler.cooldown(length - _branch_point(length), shape="1-sqrt", floor=0.0)
            branch.train_to(length, text, tick)
            record["branch"][length] = _result(branch, text, sizes, device)
        record["seconds"]["branched"] = time.perf_counter() - began
        began = time.perf_counter()
        for length in sizes.lengths:
            cosine = _Run(sizes, rampup.schedule("warmup_cosine", warmup_steps=sizes.warmup,
                                                 total_steps=length, min_lr_ratio=COSINE_FLOOR),
                          seed, device)
            cosine.train_to(length, text, tick)
            record["cosine"][length] = _result(cosine, text, sizes, device)
        record["seconds"]["cosine"] = time.perf_counter() - began
        seeds.append(record)
    summary = summarize(sizes, seeds)
    if rank == 0:
        _write(summary, seeds, out, command)
    return summary


def _branch_point(length: int) -> int:
    return length - max(1, round(COOLDOWN_FRACTION * length))


def _branched_steps(sizes: WsdSizes) -> int:
    """Updates of one trunk plus every cooldown."""
    return _branch_point(max(sizes.lengths)) + sum(n - _branch_point(n) for n in sizes.lengths)


def _result(run: _Run, text: datasets.TextData, sizes: WsdSizes, device: torch.device) -> dict[str, Any]:
    return {"val_loss": _val_loss(run.model, text, sizes.context, sizes.eval_windows, device),
            "train_loss": sum(run.losses[-10:]) / len(run.losses[-10:]),
            "lrs": run.lrs, "losses": run.losses}


def summarize(sizes: WsdSizes, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per length: mean final val loss of cosine and of the branch, their difference per seed, and
    whether the branch matched cosine (at most MATCH_TOLERANCE above it, relative, on the mean)."""
    rows = []
    for length in sizes.lengths:
        cos = [s["cosine"][length]["val_loss"] for s in seeds]
        wsd = [s["branch"][length]["val_loss"] for s in seeds]
        diffs = [w - c for w, c in zip(wsd, cos, strict=True)]
        mean_cos, mean_wsd = sum(cos) / len(cos), sum(wsd) / len(wsd)
        finite = math.isfinite(mean_cos) and math.isfinite(mean_wsd)
        rows.append({"length": length, "cooldown_from": _branch_point(length),
                     "cosine_val_loss": mean_cos, "branch_val_loss": mean_wsd,
                     "difference": mean_wsd - mean_cos, "per_seed_difference": diffs,
                     "matched": finite and mean_wsd <= mean_cos * (1 + MATCH_TOLERANCE)})
    cosine_steps = sum(sizes.lengths)
    branched = _branched_steps(sizes)
    seconds = {k: sum(s["seconds"][k] for s in seeds) for k in ("branched", "cosine")}
    return {"sizes": sizes.__dict__ | {"lengths": list(sizes.lengths)}, "rows": rows,
            "all_matched": all(r["matched"] for r in rows),
            "updates": {"cosine_runs": cosine_steps, "separate_wsd_runs": cosine_steps,
                        "branched": branched, "saved_fraction": 1 - branched / cosine_steps},
            "seconds": seconds}


def verdict(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    parts = [f"{r['length']} steps: branch {r['branch_val_loss']:.3f} vs cosine "
             f"{r['cosine_val_loss']:.3f} ({r['difference']:+.3f})" for r in rows]
    matched = [r["length"] for r in rows if r["matched"]]
    if summary["all_matched"]:
        head = ("Shown: at every length the branched 1-sqrt cooldown matched the cosine run "
                f"(final val loss at most {MATCH_TOLERANCE:.0%} above it), as Hägele et al. report.")
    elif matched:
        head = (f"Partly shown: the branched cooldown matched cosine at {matched} steps only "
                f"(within {MATCH_TOLERANCE:.0%}); at the other lengths it ended higher.")
    else:
        head = (f"Not shown: the branched cooldowns ended more than {MATCH_TOLERANCE:.0%} above "
                "the cosine runs at every length here.")
    lower = sum(r["difference"] < 0 for r in rows)
    parts.append(f"the branch ended below cosine at {lower} of {len(rows)} lengths")
    saved = summary["updates"]
    return (f"{head} {'; '.join(parts)}. Branching trained {saved['branched']} updates per seed "
            f"for the three lengths instead of {saved['separate_wsd_runs']} "
            f"({saved['saved_fraction']:.0%} fewer).")


def _write(summary: dict[str, Any], seeds: list[dict[str, Any]], out: Path, command: str) -> None:
    outputs = Outputs()
    outputs.add(out / "wsd.json", (json.dumps({"summary": summary, "seeds": seeds}) + "\n").encode())
    sizes = summary["sizes"]
    lines = ["# rampup demo: cooldowns branched from one run vs cosine", "",
             f"Reproduce with `{command}`.", "",
             f"Post-LN Transformer language model (width {sizes['width']}, {sizes['layers']} "
             f"layers, context {sizes['context']}), AdamW at peak {LM_LR:g}, batch {sizes['batch']}, "
             f"linear warmup over {sizes['warmup']} steps for every run, {sizes['seeds']} seed(s). "
             f"WSD: one run at the constant peak after warmup; at 80% of each length a "
             f"1-sqrt cooldown to 0 over the last {COOLDOWN_FRACTION:.0%} is branched off it "
             f"(`scheduler.cooldown(...)` on the resumed checkpoint). Cosine: a separate run per "
             f"length, cosine to {COSINE_FLOOR:g} x peak. Final val loss over "
             f"{sizes['eval_windows']} fixed validation windows, mean over seeds.", "",
             f"**Result:** {verdict(summary)}", "",
             "| length | cooldown from | cosine val loss | branch val loss | branch - cosine | "
             "per seed | matched |", "|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        per_seed = ", ".join(f"{d:+.3f}" for d in r["per_seed_difference"])
        lines.append(f"| {r['length']} | {r['cooldown_from']} | {r['cosine_val_loss']:.3f} | "
                     f"{r['branch_val_loss']:.3f} | {r['difference']:+.3f} | {per_seed} | "
                     f"{'yes' if r['matched'] else 'no'} |")
    seconds = summary["seconds"]
    lines += ["", f"Compute: the three cosine runs took {summary['updates']['cosine_runs']} updates "
              f"per seed ({seconds['cosine']:.0f} s in all); the trunk and its three cooldowns "
              f"{summary['updates']['branched']} ({seconds['branched']:.0f} s). Separate WSD runs "
              f"would also take {summary['updates']['separate_wsd_runs']}.", "",
              "![wsd](wsd.png)", ""]
    outputs.add(out / "wsd.md", "\n".join(lines).encode())
    outputs.add(out / "wsd.png", _figure(summary, seeds))
    outputs.commit()


def _figure(summary: dict[str, Any], seeds: list[dict[str, Any]]) -> bytes:
    from rampup.plot import _matplotlib

    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), dpi=100)
    rates, losses = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    first = seeds[0]
    for index, length in enumerate(summary["sizes"]["lengths"]):
        color = f"C{index}"
        for kind, style in (("cosine", ":"), ("branch", "-")):
            run = first[kind][length]
            rates.plot(range(len(run["lrs"])), run["lrs"], color=color, linestyle=style,
                       label=f"{kind} {length}")
            smooth = _smooth(run["losses"])
            start = 0 if kind == "cosine" else _branch_point(length) - 1
            losses.plot(range(start, len(smooth)), smooth[start:], color=color, linestyle=style)
    losses.plot(range(len(first["trunk_losses"])), _smooth(first["trunk_losses"]), color="0.5",
                linewidth=0.8, label="constant-rate trunk")
    rates.set_xlabel("step")
    rates.set_ylabel("learning rate")
    rates.legend(fontsize=7)
    rates.set_title("rates: cosine (dotted) vs branched cooldowns (solid)")
    losses.set_xlabel("step")
    losses.set_ylabel("training loss (20-step mean), seed 0")
    losses.set_yscale("log")
    losses.legend(fontsize=7)
    losses.set_title("training loss")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _smooth(values: list[float], window: int = 20) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
