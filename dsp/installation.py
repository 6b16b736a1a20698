"""Where a geophone sits. Each installation has a packaged model
(``dsp.classifier.PACKAGED_MODELS``); a plain module, so the command line can offer the
choices without loading the config schema."""

from typing import Literal, get_args

Installation = Literal["ground", "floor"]
INSTALLATIONS: tuple[str, ...] = get_args(Installation)
