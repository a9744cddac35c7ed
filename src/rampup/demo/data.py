"""Data for the demo, all made on the machine at run time: nothing is downloaded.

- Text: the source files of Python's own standard library, as bytes (a byte-level corpus that
  exists wherever Python does).
- Signals: MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package's
  ``make_dataset`` (its download path is never used), cached as a .npz file.
"""

from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rampup._files import write_atomic
from rampup.errors import MissingDependencyError


@dataclass(frozen=True)
class TextData:
    train: torch.Tensor  # uint8 bytes
    val: torch.Tensor


@dataclass(frozen=True)
class SignalData:
    x: torch.Tensor  # (n, 1, length) float32
    y: torch.Tensor  # (n,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor


def stdlib_text(max_bytes: int = 3_000_000, val_fraction: float = 0.1) -> TextData:
    """Bytes of the standard library's .py files, in a fixed (sorted) order, split train/val."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks: list[bytes] = []
    size = 0
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.append(data)
        size += len(data)
        if size >= max_bytes:
            break
    corpus = np.frombuffer(b"".join(chunks)[:max_bytes], dtype=np.uint8)
    if corpus.size < 10_000:
        raise RuntimeError(f"found too little Python source under {root} to train on")
    split = int(corpus.size * (1 - val_fraction))
    tensor = torch.from_numpy(corpus.copy())
    return TextData(train=tensor[:split], val=tensor[split:])


def mnist1d(num_samples: int, cache_dir: Path, seed: int = 42) -> SignalData:
    """MNIST-1D with ``num_samples`` samples (80% train), generated once and cached."""
    cache = cache_dir / f"mnist1d-{num_samples}-{seed}.npz"
    if not cache.exists():
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "the demo needs the mnist1d package: pip install 'rampup[demo]'"
            ) from None
        args = get_dataset_args()
        args.num_samples = num_samples
        args.seed = seed
        data = make_dataset(args)
        write_atomic(cache, lambda stream: np.savez(
            stream, x=data["x"], y=data["y"], x_test=data["x_test"], y_test=data["y_test"]))
    arrays = np.load(cache)

    def signals(name: str) -> torch.Tensor:
        return torch.from_numpy(arrays[name].astype(np.float32)).unsqueeze(1)

    def labels(name: str) -> torch.Tensor:
        return torch.from_numpy(arrays[name].astype(np.int64))

    return SignalData(signals("x"), labels("y"), signals("x_test"), labels("y_test"))
