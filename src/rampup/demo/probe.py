"""``rampup demo --experiment probe``: rampup's range test and critical rate, measured.

For the demo's Post-LN Transformer (AdamW) and its large-batch ResNet (momentum SGD), on the demo's
own models, data and training loop (:mod:`rampup.demo.experiments`, :func:`rampup.demo.train.train`):

1. rampup's ``find_lr`` over several data orders (model initialisation fixed): the suggestions and
   their coefficient of variation;
2. a grid of peak rates, log-spaced over two decades around rampup's median suggestion, each
   trained for a short run with the same schedule (linear warmup over 10% of the run, then cosine
   to 10%): the grid's best rate and loss against the loss of the run at the suggestion;
3. the same sweeps by torch-lr-finder 0.2.2 (``LRFinder.range_test`` and the suggestion of its
   ``plot``) and Lightning's ``Tuner.lr_find``, with their default rules: suggestions, spread, and
   the loss of a run at each one's median suggestion;
4. the critical rate (``critical_lr``) from the initial weights, and a run that warms up from it
   over half the usual warmup, against the usual warmup from 0.

Every finder sweeps the same rates (``min_lr`` to ``max_lr`` over ``steps`` updates) on the same
batches. Losses are final training losses (mean of the last 10 updates). rampup's and
torch-lr-finder's median suggestions and the two best grid points are each trained with 3 seeds
(initial weights and data order) and scored by the median loss over them, the same for all three;
Lightning's suggestion and the rest of the grid are trained with one.
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rampup import Cosine, with_warmup
from rampup.demo.experiments import EXPERIMENTS, Experiment, ScheduleBuilder, Sizes, Variant
from rampup.demo.probe_report import median_of, verdicts, write_probe_report
from rampup.demo.train import RunRecord, train
from rampup.errors import OptionError
from rampup.schedules import Schedule
from rampup.torch import CriticalLRResult, LRFinderResult, critical_lr, find_lr

__all__ = ["MODELS", "ProbeSizes", "Setup", "probe_setup", "run_probe"]

MODELS = ("transformer", "large_batch")
BATCH = {"transformer": 16, "large_batch": 1024}  # the demo's batch for each (large batch: 8 x 128)
TAIL = 10


@dataclass(frozen=True)
class ProbeSizes:
    """How much the experiment runs, per model."""

    run_steps: dict[str, int]
    seeds: int = 3  # data orders for every finder
    train_seeds: int = 3  # seeds of the runs that are compared (each scored by its median loss)
    sweep_steps: int = 100
    grid_points: int = 7  # over two decades
    min_lr: float = 1e-7
    max_lr: float = 10.0


FULL = ProbeSizes(run_steps={"transformer": 150, "large_batch": 95})
QUICK = ProbeSizes(run_steps={"transformer": 8, "large_batch": 8}, seeds=2, train_seeds=2,
                   sweep_steps=20, grid_points=3)


@dataclass
class Setup:
    """One of the demo's models with its data, ready to probe and to train."""

    name: str
    experiment: Experiment
    sizes: Sizes
    data: Any
    batch_size: int
    device: torch.device

    def model(self, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return self.experiment.make_model(self.sizes).to(self.device)

    def optimizer(self, model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
        return self.experiment.make_optimizer(model.parameters(), lr)

    def batches(self, seed: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``count`` training batches in the data order of ``seed`` (on the setup's device)."""
        context = self.sizes.extra.get("context", 64) if self.name == "transformer" else 0
        out = []
        for step in range(count):
            x, y = self.experiment.batch(self.data, seed, step, self.batch_size, 0, 1, context)
            out.append((x.to(self.device), y.to(self.device)))
        return out


def loss_fn(model: nn.Module, batch: Any) -> torch.Tensor:
    """Cross-entropy of one batch (both models are classifiers, the Transformer per token)."""
    inputs, targets = batch
    logits = model(inputs)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _criterion(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def probe_setup(name: str, *, quick: bool = False, cache: Path = Path("runs/demo/.cache"),
                device: torch.device | None = None) -> Setup:
    """The demo's ``transformer`` or ``large_batch`` model and data (quick: the tiny versions)."""
    if name not in MODELS:
        raise OptionError(f"--model must be one of {', '.join(MODELS)}, got {name!r}")
    experiment = EXPERIMENTS[name]()
    sizes = experiment.quick if quick else experiment.sizes
    return Setup(name, experiment, sizes, experiment.make_data(sizes, cache), BATCH[name],
                 device or torch.device("cpu"))


# -- the three finders -------------------------------------------------------------------------

class _Batches(torch.utils.data.Dataset[Any]):
    """Prepared batches as a dataset, for a DataLoader with ``batch_size=None``."""

    def __init__(self, batches: list[Any]) -> None:
        self.items = batches

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def _loader(batches: list[Any]) -> torch.utils.data.DataLoader[Any]:
    return torch.utils.data.DataLoader(_Batches(batches), batch_size=None, shuffle=False)


def rampup_sweep(setup: Setup, seed: int, sizes: ProbeSizes) -> LRFinderResult:
    model = setup.model(0)
    return find_lr(model, setup.optimizer(model), loss_fn, setup.batches(1000 + seed, sizes.sweep_steps),
                   min_lr=sizes.min_lr, max_lr=sizes.max_lr, steps=sizes.sweep_steps)


def torch_lr_finder_sweep(setup: Setup, seed: int, sizes: ProbeSizes) -> dict[str, Any]:
    """torch-lr-finder 0.2.2 with its defaults (smoothing 0.05, stop at 5x, steepest slope of the
    smoothed curve after skipping 10 points at the start and 5 at the end)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from torch_lr_finder import LRFinder  # type: ignore[import-untyped]

    model = setup.model(0)
    optimizer = setup.optimizer(model, sizes.min_lr)
    finder = LRFinder(model, optimizer, _criterion, device=setup.device)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        finder.range_test(_loader(setup.batches(1000 + seed, sizes.sweep_steps)), start_lr=sizes.min_lr,
                          end_lr=sizes.max_lr, num_iter=sizes.sweep_steps)
        try:
            _, suggestion = finder.plot(skip_start=10, skip_end=5, ax=Figure().add_subplot(),
                                        suggest_lr=True)
        except (RuntimeError, ValueError, IndexError):  # too few points after its skips
            suggestion = None
        finder.reset()
    return {"suggestion": None if suggestion is None else float(suggestion),
            "lrs": [float(v) for v in finder.history["lr"]],
            "losses": [float(v) for v in finder.history["loss"]]}


def lightning_sweep(setup: Setup, seed: int, sizes: ProbeSizes, folder: Path) -> dict[str, Any]:
    """Lightning's ``Tuner.lr_find`` with its defaults (stop at 4x, steepest slope against the rate)."""
    import logging

    import lightning as L
    from lightning.pytorch.tuner.tuning import Tuner

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    batches = setup.batches(1000 + seed, sizes.sweep_steps)
    make_optimizer = setup.experiment.make_optimizer

    class Module(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = setup.model(0)
            self.lr = sizes.min_lr

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            return loss_fn(self.net, batch)

        def configure_optimizers(self) -> Any:
            return make_optimizer(self.parameters(), self.lr)

        def train_dataloader(self) -> Any:
            return _loader(batches)

    accelerator = "gpu" if setup.device.type == "cuda" else "cpu"
    quiet = io.StringIO()
    with (tempfile.TemporaryDirectory(dir=folder) as root, warnings.catch_warnings(),
          contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet)):
        warnings.simplefilter("ignore")
        trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, default_root_dir=root)
        found = Tuner(trainer).lr_find(Module(), min_lr=sizes.min_lr, max_lr=sizes.max_lr,
                                       num_training=sizes.sweep_steps, update_attr=False)
    suggestion = None if found is None else found.suggestion()
    results = {} if found is None else found.results
    return {"suggestion": None if suggestion is None else float(suggestion),
            "lrs": [float(v) for v in results.get("lr", [])],
            "losses": [float(v) for v in results.get("loss", [])]}


# -- training runs -----------------------------------------------------------------------------

def _schedule(warmup_fraction: float, start: float = 0.0,
              warmup_scale: float = 1.0) -> ScheduleBuilder:
    def build(total: int, per_epoch: int) -> Schedule:
        steps = max(1, round(warmup_fraction * total * warmup_scale))
        return with_warmup(Cosine(steps=total - steps, min_lr_ratio=0.1), steps, start=start)

    return build


def train_at(setup: Setup, lr: float, seed: int, steps: int, *, start: float = 0.0,
             warmup_scale: float = 1.0) -> dict[str, Any]:
    """A short run at peak rate ``lr``: 10% linear warmup (from ``start``; ``warmup_scale`` times
    as long), then cosine to 10%. Returns the final training loss and the run's trace."""
    variant = Variant("probe", "", setup.batch_size, lr, _schedule(0.1, start, warmup_scale))
    sizes = Sizes(steps=steps, seeds=1, eval_every=steps, extra=setup.sizes.extra)
    began = time.perf_counter()
    record: RunRecord = train(setup.experiment, variant, setup.data, sizes, seed, setup.device)
    tail = record.train_loss[-TAIL:]
    final = None if record.diverged else statistics.fmean(tail)
    return {"lr": lr, "seed": seed, "final_loss": final, "diverged": record.diverged,
            "val_loss": record.val_loss[-1] if record.val_loss and not record.diverged else None,
            "train_loss": [v if math.isfinite(v) else None for v in record.train_loss],
            "lrs": record.lrs, "seconds": time.perf_counter() - began}


# -- the experiment ----------------------------------------------------------------------------

def _cv(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return statistics.pstdev(values) / statistics.fmean(values)


def median_rate(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    if not kept:
        return None
    # the geometric median of rates: the middle one in log space
    return float(10 ** statistics.median(math.log10(v) for v in kept))


@dataclass
class _Log:
    quiet: bool
    began: float = field(default_factory=time.perf_counter)

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"  [{time.perf_counter() - self.began:6.0f} s] {text}", flush=True)


def probe_model(setup: Setup, sizes: ProbeSizes, folder: Path, say: _Log) -> dict[str, Any]:
    """Everything measured for one model (see the module doc)."""
    steps = sizes.run_steps[setup.name]
    seeds = range(sizes.seeds)
    out: dict[str, Any] = {"title": setup.experiment.title, "run_steps": steps,
                           "batch_size": setup.batch_size}

    # 1 and 3: the sweeps
    ours = [rampup_sweep(setup, s, sizes) for s in seeds]
    say(f"{setup.name}: rampup suggestions {[_fmt(r.suggestion) for r in ours]}")
    theirs = [torch_lr_finder_sweep(setup, s, sizes) for s in seeds]
    say(f"{setup.name}: torch-lr-finder {[_fmt(r['suggestion']) for r in theirs]}")
    tuner = [lightning_sweep(setup, s, sizes, folder) for s in seeds]
    say(f"{setup.name}: Lightning {[_fmt(r['suggestion']) for r in tuner]}")
    finders: dict[str, Any] = {
        "rampup": {"suggestions": [r.suggestion for r in ours], "sweeps": [r.to_dict() for r in ours]},
        "torch-lr-finder": {"suggestions": [r["suggestion"] for r in theirs], "sweeps": theirs},
        "lightning": {"suggestions": [r["suggestion"] for r in tuner], "sweeps": tuner},
    }
    for data in finders.values():
        found = [v for v in data["suggestions"] if v is not None]
        data["median"] = median_rate(found)
        data["cv"] = _cv(found)
        data["missing"] = len(data["suggestions"]) - len(found)

    # 2: the grid around rampup's median suggestion (or the demo's own rate if there is none)
    centre = finders["rampup"]["median"] or setup.experiment.variants[-1].peak_lr
    half = (sizes.grid_points - 1) // 2
    rates = [centre * 10 ** (2 * k / (sizes.grid_points - 1)) for k in range(-half, half + 1)]
    grid = []
    for lr in rates:
        grid.append(train_at(setup, lr, 0, steps))
        say(f"{setup.name}: grid {lr:.3g} -> {_fmt(grid[-1]['final_loss'])}")
    # the runs at each finder's median suggestion, `train_seeds` seeds for rampup and
    # torch-lr-finder, one for Lightning (rampup's seed 0 is the grid's centre); each finder is
    # scored by the median loss over its seeds, as the target reads
    trained = range(sizes.train_seeds)
    for name, data in finders.items():
        lr = data["median"]
        runs = []
        if lr is not None:
            for seed in trained if name in ("rampup", "torch-lr-finder") else range(1):
                shared = name == "rampup" and seed == 0  # the grid's centre
                runs.append(grid[half] if shared else train_at(setup, lr, seed, steps))
        data["runs"] = runs
        data["losses"] = [r["final_loss"] for r in runs]
        data["median_loss"] = median_of(data["losses"])
        say(f"{setup.name}: {name} at {_fmt(lr)} -> {[_fmt(v) for v in data['losses']]}")

    # the grid's best rate: the two best grid points by seed 0 are trained with the other seeds as
    # well and the lower median over the seeds wins, so that neither the grid nor a finder gains
    # from one lucky seed (the finders' suggestions are scored by the same median)
    scored = sorted((g for g in grid if g["final_loss"] is not None), key=lambda g: g["final_loss"])
    candidates = []
    for first in scored[:2]:
        known: list[dict[str, Any]] = finders["rampup"]["runs"] if first is grid[half] else []
        again = [known[seed] if seed < len(known) else train_at(setup, first["lr"], seed, steps)
                 for seed in trained[1:]]  # rampup's own runs where the point is its suggestion
        point: list[dict[str, Any]] = [first, *again]
        candidates.append((median_of([r["final_loss"] for r in point]), point))
        say(f"{setup.name}: grid point {first['lr']:.3g}, all seeds -> "
            f"{[_fmt(r['final_loss']) for r in point]}")
    finite = [c for c in candidates if c[0] is not None]
    chosen = min(finite, key=lambda c: c[0] or 0.0) if finite else None
    best = chosen[1][0] if chosen else None
    best_runs = chosen[1] if chosen else []
    out["grid"] = {"rates": rates, "runs": grid, "best_lr": best["lr"] if best else None,
                   "best_losses": [r["final_loss"] for r in best_runs],
                   "best_loss": median_of([r["final_loss"] for r in best_runs]),
                   "best_at_edge": best is not None and best["lr"] in (rates[0], rates[-1]),
                   "candidates": [{"lr": c[1][0]["lr"], "losses": [r["final_loss"] for r in c[1]],
                                   "median": c[0]} for c in candidates]}

    # 4: the critical rate, and warmup from it over half the usual warmup (as many seeds as the
    # usual warmup at the same peak)
    model = setup.model(0)
    critical: CriticalLRResult = critical_lr(model, setup.optimizer(model), loss_fn,
                                             setup.batches(2000, 5), min_lr=sizes.min_lr,
                                             max_lr=sizes.max_lr)
    peak = finders["rampup"]["median"] or centre
    out["critical"] = critical.to_dict() | {"peak": peak}
    say(f"{setup.name}: critical rate {_fmt(critical.rate)} (peak {peak:.3g})")
    if critical.rate is not None:
        start = critical.start_fraction(peak)
        out["critical"]["start_fraction"] = start
        out["critical"]["suggested_steps"] = critical.suggested_steps(peak, max(1, round(0.1 * steps)))
        usual = finders["rampup"]["runs"] if finders["rampup"]["median"] else [grid[half]]
        mine = [train_at(setup, peak, seed, steps, start=start, warmup_scale=0.5)
                for seed in range(len(usual))]
        out["critical"]["usual"] = usual
        out["critical"]["from_critical"] = mine
        say(f"{setup.name}: half warmup from the critical rate -> "
            f"{[_fmt(r['final_loss']) for r in mine]}")
    out["finders"] = finders
    out["verdicts"] = verdicts(out)
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def run_probe(out: Path, *, quick: bool = False, device: torch.device | None = None,
              progress: bool = True, command: str = "rampup demo --experiment probe",
              cache: Path | None = None) -> dict[str, Any]:
    """Run the experiment on both models; writes results.json, report.md and figures to ``out``
    (generated data is cached in ``cache``, by default ``out/.cache``)."""
    sizes = QUICK if quick else FULL
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    say = _Log(quiet=not progress)
    results: dict[str, Any] = {"quick": quick, "sizes": sizes.__dict__, "models": {}}
    began = time.perf_counter()
    for name in MODELS:
        setup = probe_setup(name, quick=quick, cache=cache or folder / ".cache", device=device)
        results["models"][name] = probe_model(setup, sizes, folder, say)
    results["seconds"] = time.perf_counter() - began
    results["report"] = str(write_probe_report(results, folder, command))
    return results
