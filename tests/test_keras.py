"""rampup.keras.RampupSchedule with real Keras 3 (torch backend): rates in fit, serialisation, saving."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras", reason="the Keras adapter tests need keras 3 (pip install keras)")
if keras.backend.backend() != "torch":  # keras was imported earlier with another backend
    pytest.skip("these tests run Keras on its torch backend", allow_module_level=True)

import rampup  # noqa: E402
from rampup.keras import RampupSchedule  # noqa: E402

PEAK = 0.05
# Keras' torch backend converts through __array__ without numpy 2's copy keyword (Keras' own warning).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _schedule() -> rampup.Schedule:
    # transformers' cosine: 0 at update 0, so the first update must leave the weights unchanged
    return rampup.schedule("cosine", warmup_steps=3, total_steps=8)


class _Rates(keras.callbacks.Callback):  # type: ignore[misc]
    """The rate in force before each batch (what its update uses) and the optimizer's counter."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []
        self.counters: list[int] = []
        self.kernels: list[np.ndarray[Any, Any]] = []

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        optimizer = self.model.optimizer
        self.rates.append(float(optimizer.learning_rate))
        self.counters.append(int(optimizer._iterations))
        self.kernels.append(keras.ops.convert_to_numpy(self.model.layers[-1].kernel))


def _model(optimizer: Any) -> Any:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data(n: int = 16) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def test_fit_uses_peak_times_schedule_for_every_update() -> None:
    schedule = _schedule()
    model = _model(keras.optimizers.SGD(learning_rate=RampupSchedule(schedule, PEAK)))
    rates = _Rates()
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[rates])
    assert rates.counters == list(range(8))
    assert rates.rates == [PEAK * schedule(k) for k in range(8)]
    # the rate is really applied: update 0 runs at 0 and leaves the weights as they were
    assert np.array_equal(rates.kernels[0], rates.kernels[1])
    assert not np.array_equal(rates.kernels[1], rates.kernels[2])
    assert float(model.optimizer.learning_rate) == PEAK * schedule(8) == 0.0


def test_gradient_accumulation_reads_the_schedule_per_update() -> None:
    schedule = _schedule()
    optimizer = keras.optimizers.Adam(
        learning_rate=RampupSchedule(schedule, PEAK, gradient_accumulation_steps=2),
        gradient_accumulation_steps=2,
    )
    model = _model(optimizer)
    rates = _Rates()
    x, y = _data()
    model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[rates])
    # 16 micro-batches, 8 updates: micro-batch i belongs to update i // 2
    assert rates.rates == [PEAK * schedule(i // 2) for i in range(16)]
    assert int(model.optimizer.iterations) == 8


def test_by_name_and_from_dict() -> None:
    by_name = RampupSchedule("cosine", PEAK, warmup_steps=3, total_steps=8)
    assert by_name == RampupSchedule(_schedule(), PEAK) == RampupSchedule(_schedule().to_dict(), PEAK)
    assert by_name(5) == PEAK * _schedule()(5)
    assert by_name(np.int64(5)) == by_name(keras.ops.convert_to_tensor(5)) == by_name(5)


def test_optimizer_serialize_deserialize_round_trip() -> None:
    schedule = rampup.with_warmup(rampup.Cosine(steps=20, min_lr_ratio=0.1), 5)
    optimizer = keras.optimizers.AdamW(learning_rate=RampupSchedule(schedule, PEAK, name="warm"))
    config = keras.optimizers.serialize(optimizer)
    text = json.dumps(config)  # plain, JSON-ready data all the way down
    assert config["config"]["learning_rate"]["registered_name"] == "rampup>RampupSchedule"
    revived = keras.optimizers.deserialize(json.loads(text))
    restored = revived._learning_rate
    assert isinstance(restored, RampupSchedule)
    assert restored.schedule == schedule and restored.peak_lr == PEAK and restored.name == "warm"
    assert [restored(k) for k in range(26)] == [PEAK * schedule(k) for k in range(26)]
    # the schedule alone, through Keras' own helpers
    alone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(restored))
    assert alone == restored


def test_model_save_and_load_continue_the_schedule(tmp_path: Path) -> None:
    schedule = _schedule()
    model = _model(keras.optimizers.SGD(learning_rate=RampupSchedule(schedule, PEAK), momentum=0.9))
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # 4 updates
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer._learning_rate, RampupSchedule)
    assert loaded.optimizer._learning_rate == model.optimizer._learning_rate
    assert int(loaded.optimizer.iterations) == 4
    rates = _Rates()
    loaded.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[rates])
    assert rates.rates == [PEAK * schedule(k) for k in range(4, 8)]


def test_traced_steps_read_a_float32_table() -> None:
    schedule = _schedule()
    lr = RampupSchedule(schedule, PEAK, gradient_accumulation_steps=2)
    for micro in (0, 3, 7, 15, 16, 40):
        value = keras.ops.convert_to_numpy(lr._traced(keras.ops.convert_to_tensor(micro)))
        assert value.dtype == np.float32
        assert value == np.float32(PEAK * schedule(micro // 2))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="peak_lr"):
        RampupSchedule(_schedule(), 0.0)
    with pytest.raises(TypeError, match="only for a schedule given by name"):
        RampupSchedule(_schedule(), PEAK, warmup_steps=3)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        RampupSchedule(_schedule(), PEAK, gradient_accumulation_steps=0)
    with pytest.raises(TypeError, match="got function"):
        RampupSchedule(lambda step: 1.0, PEAK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected"):
        RampupSchedule.from_config({**RampupSchedule(_schedule(), PEAK).get_config(), "extra": 1})
    with pytest.raises(ValueError, match="step must be >= 0"):
        RampupSchedule(_schedule(), PEAK)(-1)
