"""The built-in waveform: reproducible by index, quiet between events, events that stand out."""

from __future__ import annotations

import numpy as np
import pytest

from hil.emulators.ambient import AmbientSource, EventShape


def test_any_partition_of_reads_gives_the_same_samples() -> None:
    source = AmbientSource.preset("seismic", 1000, seed=5)
    whole = source.read(0, 7000)
    again = AmbientSource.preset("seismic", 1000, seed=5)
    pieces = np.concatenate([again.read(s, 20) for s in range(3000, 7000, 20)])
    assert np.array_equal(pieces, whole[3000:])
    assert np.array_equal(again.read(123, 4567), whole[123 : 123 + 4567])
    assert not np.array_equal(
        AmbientSource.preset("seismic", 1000, seed=6).read(0, 100), whole[:100]
    )


def test_quiet_noise_with_events_that_stand_out() -> None:
    source = AmbientSource(
        500, 2, seed=1, noise=100.0, event=EventShape(1e5, 20.0, 0.1, every_s=2.0)
    )
    data = source.read(0, 500 * 60).astype(np.float64)
    assert data.dtype == np.float64 and data.shape == (30_000, 2)
    median_abs = np.median(np.abs(data), axis=0)
    assert np.all(median_abs < 150)  # mostly noise
    peaks = np.abs(data).max(axis=0)
    assert np.all(peaks > 20_000)  # with events far above it


@pytest.mark.parametrize(
    ("kind", "channels", "rate", "limit"),
    [("seismic", 3, 1000, 1 << 23), ("pir", 1, 100, 1 << 15), ("magnetometer", 3, 50, 1 << 31)],
)
def test_presets_fit_their_device(kind: str, channels: int, rate: int, limit: int) -> None:
    source = AmbientSource.preset(kind, rate, seed=2)
    data = source.read(0, rate * 30)
    assert source.channels == channels and source.rate == rate
    assert data.dtype == np.int32 and data.shape == (rate * 30, channels)
    assert data.min() >= -limit and data.max() < limit


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        AmbientSource(0, 1)
    assert AmbientSource(100, 1).read(5, 0).shape == (0, 1)
