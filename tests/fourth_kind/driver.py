"""Step 2: the driver, registered under the kind's name."""

from __future__ import annotations

from drivers.registry import register
from drivers.seismic import SeismicDriver


@register("acoustic")
class AcousticDriver(SeismicDriver):
    """Reads one acoustic digitizer (the seismic digitizer's frames)."""

    kind = "acoustic"
