"""Step 4: the DSP chain, registered with dsp under the kind's name."""

from __future__ import annotations

from dsp.chains import register_chain
from dsp.config import DspConfig
from dsp.pir import PirChain
from dsp.records import SensorSpec


class AcousticChain(PirChain):
    kind = "acoustic"


@register_chain("acoustic")
def _chain(spec: SensorSpec, config: DspConfig) -> tuple[AcousticChain, int]:
    return AcousticChain(spec.name, spec.rate, config), 0
