"""The ``[dsp]`` config section: every threshold and window of the detector.

The defaults are the values the packaged classifier was trained and evaluated with
(docs/dsp.md); a field unit normally needs none of them. Changing a feature window or band
changes what the classifier sees: retrain (``ugs-gateway train``) after such a change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from dsp.installation import Installation


def _next_to_config(path: Path, info: ValidationInfo) -> Path:
    # Same rule as the gateway's other paths: relative to the config file when there is one.
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    return Path(base) / path if base is not None and not path.is_absolute() else path


ModelPath = Annotated[Path, AfterValidator(_next_to_config)]


class SeismicDspConfig(BaseModel):
    """Geophone chain: resample, band filter bank, STA/LTA trigger, event segmentation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    internal_rate_hz: float = Field(
        default=250.0, ge=100.0, le=1000.0, description="every digitizer is resampled to this"
    )
    component: int = Field(
        default=0, ge=0, le=2, description="which column is the vertical component (0 = first)"
    )
    highpass_hz: float = Field(default=1.5, ge=0.01, description="DC removal / high-pass corner")
    bands_hz: list[tuple[float, float]] = Field(
        default=[(2.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, 100.0)],
        min_length=1,
        max_length=8,
        description="band-pass filter bank, Hz",
    )
    band_order: int = Field(default=2, ge=1, le=4, description="Butterworth order per band")
    frame_s: float = Field(
        default=0.02, gt=0, le=0.2, description="envelope frame (energy per frame)"
    )
    sta_s: float = Field(default=1.0, gt=0, description="short-term average window")
    lta_s: float = Field(
        default=30.0, gt=0, description="noise floor (long-term average) time constant, rising"
    )
    floor_down_s: float = Field(
        default=30.0, gt=0, description="noise floor time constant when the noise falls"
    )
    lta_ceiling: float = Field(
        default=2.5,
        gt=1.0,
        description="above this STA/LTA the noise floor adapts 10x slower (slow rises)",
    )
    warmup_s: float = Field(default=5.0, ge=0, description="no triggers while the floor forms")
    trigger_on: float = Field(default=3.0, gt=1.0, description="STA/floor that opens an event")
    trigger_off: float = Field(default=1.8, gt=0.0, description="STA/floor that keeps it open")
    impulse_on: float = Field(
        default=30.0, gt=1.0, description="peak^2/floor in a frame that opens an event (impact)"
    )
    impulse_off: float = Field(
        default=18.0, gt=0.0, description="peak^2/floor in a frame that keeps it open"
    )
    hold_s: float = Field(
        default=1.5,
        ge=0,
        description="an event ends this long after the ratio fell below off; a valley that "
        "cuts an open event is confirmed within this long",
    )
    end_drop_db: float = Field(
        default=20.0,
        gt=0,
        description="a band is spent once its STA falls this far below its peak in the event",
    )
    split_depth_db: float = Field(
        default=8.0,
        gt=0,
        description="an open event is cut at a valley of its loudness this deep below the "
        "loudest point before it ...",
    )
    split_level_db: float = Field(
        default=4.0,
        description="... deeper by however far the valley stands more than this above the "
        "loudness the event keeps falling back to",
    )
    relearn_s: float = Field(
        default=10.0, ge=0, description="after an event the floor re-learns quickly this long"
    )
    max_event_s: float = Field(
        default=150.0, gt=0, description="longer events are closed, and the floor re-learnt"
    )
    settle_s: float = Field(
        default=2.0,
        ge=0,
        description="triggers stay quiet this long after bad samples (after lost ones, four "
        "times as long as they were lost, up to this)",
    )
    history_s: float = Field(
        default=200.0,
        gt=0,
        le=1200.0,
        description="envelope/waveform history kept for event features (about 26 kB a second)",
    )
    noise_before_s: float = Field(
        default=10.0, ge=0, description="pre-event noise used as spectral reference"
    )

    @model_validator(mode="after")
    def _check(self) -> SeismicDspConfig:
        nyquist = self.internal_rate_hz / 2.0
        if self.highpass_hz >= nyquist:
            raise ValueError(
                f"highpass_hz: {self.highpass_hz:g} Hz must lie below {nyquist:g} Hz (half the "
                "internal rate)"
            )
        for lo, hi in self.bands_hz:
            if not 0 < lo < hi < nyquist:
                raise ValueError(
                    f"bands_hz: band ({lo:g}, {hi:g}) must satisfy 0 < low < high < "
                    f"{nyquist:g} Hz (half the internal rate)"
                )
        if self.trigger_off >= self.trigger_on:
            raise ValueError("trigger_off: must be below trigger_on (hysteresis)")
        if self.impulse_off >= self.impulse_on:
            raise ValueError("impulse_off: must be below impulse_on (hysteresis)")
        if self.history_s < self.max_event_s + self.noise_before_s + 5.0:
            raise ValueError("history_s: must cover max_event_s + noise_before_s + 5 s")
        if self.frame_s * self.internal_rate_hz < 1.0:
            raise ValueError("frame_s: must hold at least one internal sample")
        return self


class PirDspConfig(BaseModel):
    """PIR chain: band-pass, adaptive threshold, lobe polarity sequence."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    band_hz: tuple[float, float] = Field(
        default=(0.2, 5.0),
        description="band-pass, Hz (the top is held below 0.45 x the sensor's rate)",
    )
    noise_s: float = Field(default=30.0, gt=0, description="noise RMS averaging window")
    threshold: float = Field(default=5.0, gt=1.0, description="lobe threshold, x noise RMS")
    min_threshold_v: float = Field(
        default=0.002, ge=0, description="never trigger on lobes smaller than this (volts)"
    )
    hold_s: float = Field(default=2.0, ge=0, description="quiet time that ends a crossing")
    warmup_s: float = Field(default=10.0, ge=0)
    max_event_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PirDspConfig:
        lo, hi = self.band_hz
        # A walker's lobes lie at 0.1-5 Hz; the low edge must leave them in, and stay below
        # the top that the slowest PIR a chain takes (4 Hz) can carry, 1.8 Hz.
        if not PIR_LOW_EDGE_HZ[0] <= lo <= PIR_LOW_EDGE_HZ[1] or not lo < hi:
            raise ValueError(
                f"band_hz: ({lo:g}, {hi:g}) must have its low edge within "
                f"{PIR_LOW_EDGE_HZ[0]:g}-{PIR_LOW_EDGE_HZ[1]:g} Hz and below its high edge"
            )
        return self


PIR_LOW_EDGE_HZ = (0.01, 1.5)
"""Where the low edge of the PIR's band-pass may lie."""


class MagDspConfig(BaseModel):
    """Magnetometer chain: per-axis baseline frozen during events, |dB| anomaly."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    baseline_s: float = Field(
        default=15.0,
        gt=0,
        description="baseline (EMA) time constant: short enough to follow the drift of the "
        "field and the sensor (a slower one takes a drift for an anomaly)",
    )
    smooth_s: float = Field(default=0.3, gt=0, description="|dB| smoothing")
    noise_s: float = Field(default=60.0, gt=0, description="|dB| noise averaging window")
    threshold: float = Field(default=6.0, gt=1.0, description="anomaly threshold, x noise")
    min_threshold_nt: float = Field(
        default=0.0,
        ge=0,
        description="never trigger on anomalies smaller than this, in the sensor's units (nT "
        "for a calibrated unit; 0: only the noise and two converter steps set the threshold, "
        "whatever the units of a recording)",
    )
    hold_s: float = Field(default=1.5, ge=0)
    warmup_s: float = Field(default=10.0, ge=0)
    max_event_s: float = Field(default=90.0, gt=0)


class InputDspConfig(BaseModel):
    """How bad input is recognised and flagged."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    clip_run: int = Field(default=3, ge=2, description="identical samples that make a clip")
    clip_factor: float = Field(
        default=20.0, gt=0, description="... at more than this x noise amplitude from the mean"
    )
    flatline_s: float = Field(default=1.0, gt=0, description="identical samples = dead sensor")
    merge_s: float = Field(default=1.0, ge=0, description="flagged stretches closer are merged")
    gap_reset_s: float = Field(
        default=10.0, ge=0, description="longer gaps restart the chain instead of being bridged"
    )
    batch_s: float = Field(
        default=0.5,
        ge=0,
        le=5.0,
        description="input is run through the detector in batches this long: fewer, bigger "
        "calls for drivers that deliver small blocks, at up to this much extra latency",
    )
    prime_s: float = Field(
        default=5.0,
        ge=0,
        le=60.0,
        description="after a start or a reconnect, a sensor's first seconds are surveyed "
        "before they are run: its noise level is learnt from their quiet parts, so an event "
        "in them is detected (up to this much late); 0 = warm up on them instead",
    )


class FusionDspConfig(BaseModel):
    """Joining per-sensor events into one detection per physical event."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    join_s: float = Field(
        default=1.0, ge=0, description="sensor events closer than this belong together"
    )
    stale_s: float = Field(
        default=10.0,
        gt=0,
        description="a sensor this far behind the others (or 2 of its blocks) is not waited for",
    )
    overhang_s: float = Field(
        default=1.0,
        ge=0,
        description="an event outlasting the others by more than this is not joined to them "
        "(unless it is a geophone piece they lie inside): a long event of one sensor must not "
        "hold back the others' detection",
    )


class ClassifierDspConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: ModelPath | None = Field(
        default=None,
        description="model file (a site model from calibrate); default: the packaged model "
        "of the installation",
    )
    installation: Installation = Field(
        default="ground",
        description="where the geophone sits, which picks the packaged model when `model` "
        "is not set: `ground` (in soil, a roadside or a path) or `floor` (under or on a "
        "building's floor: the ground model calibrated on simulated homes; it names passing "
        "vehicles as people, so never outdoors)",
    )
    min_conf: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="an event is reported when the model is at least this sure it is real "
        "(not noise)",
    )
    name_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="... and named for the class that holds this share of that; otherwise "
        "it is reported as unknown",
    )
    min_duration_s: float = Field(
        default=2.0,
        ge=0,
        description="shorter detections the geophone took part in are dropped: a passer-by "
        "is heard for seconds, a knock or a spike is not",
    )
    min_cut_short_s: float = Field(
        default=1.0,
        ge=0,
        description="... unless the end of the record cut the geophone's event short: then "
        "this much of it is enough (less is too little to name: a knock, or the first "
        "fraction of a second of anything); a PIR's or magnetometer's event the end cut "
        "short is dropped below it too",
    )
    report_unknown: bool = Field(
        default=True, description="report events that are real but neither class (animals)"
    )


class DspConfig(BaseModel):
    """Thresholds and windows of the streaming detector (``[dsp]``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seismic: SeismicDspConfig = Field(default_factory=SeismicDspConfig)
    pir: PirDspConfig = Field(default_factory=PirDspConfig)
    magnetometer: MagDspConfig = Field(default_factory=MagDspConfig)
    input: InputDspConfig = Field(default_factory=InputDspConfig)
    fusion: FusionDspConfig = Field(default_factory=FusionDspConfig)
    classifier: ClassifierDspConfig = Field(default_factory=ClassifierDspConfig)
