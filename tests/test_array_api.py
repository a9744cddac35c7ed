"""Array API evaluation with torch: the same schedule object on torch tensors (eager and under
torch.compile with fullgraph=True) gives the numpy path's numbers, in the tensor's dtype and device."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rampup
from array_cases import CASES, N, float32_atol
from rampup import Constant, Cosine, Linear, MultiStep, OneCycle, Schedule, ScheduleTypeError, Warmup

torch = pytest.importorskip("torch", reason="torch is needed for the torch array API tests")

# torch.compile's internals use deprecated torch.jit APIs; dynamo also says once that it traces
# through array-api-compat's lru_cache-wrapped namespace lookup (harmless: it only reads types).
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`"),
]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _numpy(values: Any) -> np.ndarray:
    return values.detach().cpu().numpy()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(CASES))
def test_int64_tensor_matches_numpy(name: str, device: str) -> None:
    s = CASES[name]
    expected = s(np.arange(N))
    got = s(torch.arange(N, device=device))
    assert isinstance(got, torch.Tensor)
    assert got.dtype == torch.float64
    assert got.shape == (N,)
    assert got.device.type == device
    np.testing.assert_allclose(_numpy(got), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(CASES))
def test_float32_tensor_matches_numpy(name: str, device: str) -> None:
    s = CASES[name]
    got = s(torch.arange(N, dtype=torch.float32, device=device))
    assert got.dtype == torch.float32
    assert got.device.type == device
    np.testing.assert_allclose(_numpy(got), s(np.arange(N)), rtol=0, atol=float32_atol(name))


def test_every_shape_is_covered() -> None:
    from rampup.schedules import SHAPES

    assert set(SHAPES.values()) <= {type(s) for s in CASES.values()}


def test_zero_d_and_nd_steps() -> None:
    s = CASES["named-cosine"]
    for step in (0, 5, 10, 57, 100, 250):
        got = s(torch.tensor(step))
        assert got.shape == () and got.dtype == torch.float64
        assert abs(float(got) - s(step)) <= 1e-12
    grid = torch.arange(24, dtype=torch.int32).reshape(2, 3, 4)
    got = s(grid)
    assert got.shape == (2, 3, 4) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), s(grid.numpy()), rtol=0, atol=1e-12)


def test_constant_result_is_a_fresh_full_tensor() -> None:
    got = Constant(0.25)(torch.arange(4))
    assert got.shape == (4,) and got.dtype == torch.float64
    got += 1  # writable, not a broadcast view
    assert got.tolist() == [1.25] * 4


def test_narrow_floats_keep_their_dtype() -> None:
    s = CASES["named-wsd"]
    for dtype in (torch.float16, torch.bfloat16):
        got = s(torch.arange(N, dtype=dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got.float().numpy(), s(np.arange(N)), atol=1e-2)


def test_bad_dtypes_are_rejected() -> None:
    s = Cosine(steps=10)
    with pytest.raises(ScheduleTypeError, match="dtype"):
        s(torch.tensor([True, False]))
    with pytest.raises(ScheduleTypeError, match="dtype"):
        s(torch.tensor([1 + 1j]))


def test_numpy_and_python_inputs_are_unchanged() -> None:
    s = CASES["named-cosine"]
    assert type(s(3)) is float
    assert isinstance(s(np.arange(3)), np.ndarray)
    assert isinstance(s([0, 1, 2]), np.ndarray)
    assert type(s(torch.arange(3).numpy())) is np.ndarray


# -- torch.compile --------------------------------------------------------------------------------

COMPILED = {
    "cosine": rampup.schedule("cosine", warmup_steps=10, total_steps=100),
    "warmup_stable_decay": rampup.schedule("warmup_stable_decay", warmup_steps=10, total_steps=100,
                                           num_decay_steps=30),
    "one_cycle": rampup.schedule("one_cycle", total_steps=100, three_phase=True),
    "multistep": rampup.schedule("multistep", warmup_steps=10, milestones=[30, 60, 90]),
    "everything": rampup.multiply(
        rampup.clamp(rampup.with_warmup(CASES["sgdr-mult-1.5"], 7, curve="cosine"), 0.05),
        rampup.join([CASES["triangular2"], CASES["polynomial"], Constant(0.5)], [30, 60]),
        CASES["exponential-rate"],
    ),
}


@pytest.mark.parametrize("name", list(COMPILED))
def test_compiles_fullgraph_once(name: str) -> None:
    """fullgraph=True fails on any graph break; one graph for every step means nothing was baked in
    (dynamo's default config)."""
    s = COMPILED[name]
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(lambda step: s(step), fullgraph=True, backend="eager")
    steps = [0, 1, 9, 10, 11, 29, 30, 45, 60, 89, 99, 100, 150]
    got = [compiled(torch.tensor(step)) for step in steps]
    assert int(torch._dynamo.utils.counters["stats"]["unique_graphs"]) == 1
    torch._dynamo.reset()
    for step, value in zip(steps, got, strict=True):
        assert value.dtype == torch.float64 and value.shape == ()
        assert abs(float(value) - s(step)) <= 1e-12, step


def test_compiled_training_step_reads_its_rate_from_a_step_tensor() -> None:
    """A whole compiled step: the rate comes from the schedule on the step tensor, so a changing
    rate does not recompile."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    s = rampup.schedule("cosine", warmup_steps=3, total_steps=8)
    weight = torch.zeros(3, dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    step = torch.tensor(0)

    def train_step(weight: Any, step: Any) -> tuple[Any, Any]:
        grad = 2 * x.T @ (x @ weight - y) / len(y)
        lr = 0.05 * s(step)
        return weight - lr * grad, lr

    compiled = torch.compile(train_step, fullgraph=True, backend="eager")
    rates = []
    for _ in range(10):
        weight, lr = compiled(weight, step)
        rates.append(float(lr))
        step = step + 1
    assert int(torch._dynamo.utils.counters["stats"]["unique_graphs"]) == 1
    torch._dynamo.reset()
    np.testing.assert_allclose(rates, [0.05 * s(k) for k in range(10)], rtol=1e-12, atol=0)


# -- generated joins --------------------------------------------------------------------------------

leaves = st.one_of(
    st.builds(Warmup, steps=st.integers(0, 30), curve=st.sampled_from(["linear", "cosine", "constant"]),
              endpoints=st.sampled_from(["end", "start", "both"])),
    st.builds(Linear, steps=st.integers(0, 60), min_lr_ratio=st.sampled_from([0.0, 0.2])),
    st.builds(Cosine, steps=st.integers(0, 60), cycles=st.sampled_from([0.5, 1.25])),
    st.builds(Constant, value=st.sampled_from([0.0, 0.5, 1.0])),
    st.builds(MultiStep, milestones=st.lists(st.integers(0, 80), max_size=4, unique=True).map(
        lambda m: tuple(sorted(m)))),
    st.builds(OneCycle, steps=st.integers(10, 60), three_phase=st.booleans()),
)


@st.composite
def joins(draw: st.DrawFn) -> Schedule:
    phases = draw(st.lists(leaves, min_size=1, max_size=4))
    boundaries = sorted(draw(st.lists(st.integers(0, 100), min_size=len(phases) - 1,
                                      max_size=len(phases) - 1)))
    return rampup.join(phases, boundaries, clock=draw(st.sampled_from(["relative", "absolute"])))


@settings(max_examples=25)
@given(joins())
def test_generated_joins_match_numpy(s: Schedule) -> None:
    steps = np.arange(130)
    np.testing.assert_allclose(s(torch.from_numpy(steps)).numpy(), s(steps), rtol=0, atol=1e-12)
