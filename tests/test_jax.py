"""JAX arrays (eager and under jax.jit) and optax: the same schedule object gives the numpy path's
numbers, and rampup.jax.to_optax gives optax the rate of each update."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rampup
from array_cases import CASES, N, float32_atol
from rampup import ScheduleTypeError

jax = pytest.importorskip("jax", reason="jax is needed for the JAX array API tests (pip install jax)")
jnp = pytest.importorskip("jax.numpy")


@pytest.fixture
def x64() -> Iterator[None]:
    """float64 for this test only (JAX's default is float32, and the flag is process-wide)."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("name", list(CASES))
def test_float64_eager_and_jit_match_numpy(name: str, x64: None) -> None:
    s = CASES[name]
    expected = s(np.arange(N))
    steps = jnp.arange(N)
    assert steps.dtype == jnp.int64
    for got in (s(steps), jax.jit(s)(steps)):
        assert isinstance(got, jax.Array)
        assert got.dtype == jnp.float64 and got.shape == (N,)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_default_matches_numpy(name: str) -> None:
    """Without x64 an int32 step is computed (and returned) in float32."""
    s = CASES[name]
    steps = jnp.arange(N)
    assert steps.dtype == jnp.int32
    got = s(steps)
    assert isinstance(got, jax.Array) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), s(np.arange(N)), rtol=0, atol=float32_atol(name))


def test_jit_traces_once_for_every_step() -> None:
    s = rampup.schedule("warmup_stable_decay", warmup_steps=10, total_steps=100, num_decay_steps=30)
    traces = []

    def rate(step: Any) -> Any:
        traces.append(step)
        return s(step)

    compiled = jax.jit(rate)
    for step in (0, 3, 10, 50, 80, 99, 150):
        got = compiled(jnp.asarray(step))
        assert got.shape == () and abs(float(got) - s(step)) <= 1e-6
    assert len(traces) == 1
    assert abs(float(jax.jit(s)(jnp.asarray(42))) - s(42)) <= 1e-6  # the schedule itself jits too


def test_bool_steps_are_rejected() -> None:
    with pytest.raises(ScheduleTypeError, match="dtype"):
        CASES["named-cosine"](jnp.asarray([True]))


# -- optax ----------------------------------------------------------------------------------------


@pytest.fixture
def optax() -> Any:
    return pytest.importorskip("optax", reason="optax is needed for the optax tests (pip install optax)")

X = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [1.5, 0.2, -0.7], [-0.4, 0.9, 1.1]], dtype=np.float32)
Y = np.array([1.0, -2.0, 0.5, 0.8], dtype=np.float32)
PEAK = 0.1
STEPS = 6


def _loss(params: dict[str, Any]) -> Any:
    return jnp.mean((jnp.asarray(X) @ params["w"] + params["b"] - jnp.asarray(Y)) ** 2)


def _train(optax: Any, optimizer: Any) -> tuple[dict[str, Any], list[Any], list[float]]:
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    state = optimizer.init(params)

    @jax.jit
    def step(params: dict[str, Any], state: Any) -> tuple[dict[str, Any], Any, Any]:
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    states, losses = [state], []
    for _ in range(STEPS):
        params, state, loss = step(params, state)
        states.append(state)
        losses.append(float(loss))
    return params, states, losses


def test_inject_hyperparams_uses_the_schedule_of_each_update(optax: Any) -> None:
    from rampup.jax import to_optax

    s = rampup.schedule("warmup_cosine", warmup_steps=2, total_steps=STEPS)
    lr = to_optax(s, PEAK)
    params, states, losses = _train(optax, optax.inject_hyperparams(optax.adamw)(learning_rate=lr,
                                                                          weight_decay=1e-4))
    recorded = [float(state.hyperparams["learning_rate"]) for state in states]
    # After init: schedule(0). After update k (0-based): the rate update k used, schedule(k).
    expected = [PEAK * s(0)] + [PEAK * s(k) for k in range(STEPS)]
    np.testing.assert_allclose(recorded, expected, rtol=1e-6)
    assert states[-1].hyperparams["learning_rate"].dtype == jnp.float32
    assert losses[-1] < losses[0]

    # adamw given the schedule directly makes the same updates as adamw given a table of the
    # rates indexed by optax's count, PEAK * s(k) for update k (no shift), and not the same as
    # the table shifted by one; inject_hyperparams's adamw agrees up to float32 op order.
    def adamw(rate: Any) -> Any:
        return optax.adamw(learning_rate=rate, weight_decay=1e-4)

    direct, _, _ = _train(optax, adamw(lr))
    table = jnp.asarray([PEAK * s(k) for k in range(STEPS + 1)], dtype=jnp.float32)
    tabled, _, _ = _train(optax, adamw(lambda count: table[count]))
    shifted, _, _ = _train(optax, adamw(lambda count: table[count + 1]))
    for key in params:
        np.testing.assert_allclose(np.asarray(direct[key]), np.asarray(tabled[key]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(params[key]), np.asarray(direct[key]), rtol=1e-4, atol=1e-6)
        assert np.abs(np.asarray(shifted[key]) - np.asarray(direct[key])).max() > 1e-3


def test_to_optax_values_and_types(x64: None) -> None:
    from rampup.jax import to_optax

    s = rampup.schedule("cosine", warmup_steps=10, total_steps=100)
    lr = to_optax(s, 3e-4)
    assert lr(15) == 3e-4 * s(15) and type(lr(15)) is float
    count = jnp.asarray(15, dtype=jnp.int32)
    assert lr(count).dtype == jnp.float64 and abs(float(lr(count)) - 3e-4 * s(15)) <= 1e-16
    assert to_optax(s, 3e-4, dtype=jnp.float32)(count).dtype == jnp.float32
    assert float(jax.jit(lr)(count)) == pytest.approx(3e-4 * s(15), rel=1e-12)
    with pytest.raises(ScheduleTypeError):
        to_optax(lambda t: 1.0, 3e-4)  # type: ignore[arg-type]
