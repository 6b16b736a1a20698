"""capstone_piezo: a piezo disc on a floor, triggered guest clips, labelled walks, wire noise.

Source folders of https://github.com/Capstone-Gait-Keepers/capstone: ``piezo_symposium``
and ``demos`` (500 Hz triggered clips of guests at two public demos), ``piezo_custom``
(500 Hz, labelled walks), ``piezo`` (200 Hz studio session, labelled walks and "chaotic"
ones) and ``piezo_wire_analysis`` (cable-noise tests, noise only). The reader and truth rules
are shared with capstone_bno055 (``capstone``).

Split by session: the demos of 2024-04-13 (other day, other guests) and the 200 Hz studio
session are held out; the symposium, the custom-floor takes and the wire tests are dev.
"""

from __future__ import annotations

from pathlib import Path

from gateway.bench.real import capstone
from gateway.bench.real.common import Dataset, Source, Split, split_of

HELDOUT_FOLDERS = {"demos", "piezo"}
SPLIT_RULE = (
    "by session: heldout = demos (2024-04-13, guests, 500 Hz) + studio session "
    "(2024-02-11, ron, 200 Hz); dev = symposium (2024-03-21, guests), custom-floor takes (ron) "
    "and the 3 wire-test noise recordings"
)


def split(source_folder: str, stem: str) -> Split:
    return split_of(source_folder, HELDOUT_FOLDERS)


def prepare(source: Source, folder: Path) -> None:
    capstone.prepare_set(source, folder, "piezo", split, SPLIT_RULE)


DATASET = Dataset(
    name="capstone_piezo",
    kind="footstep",
    repository=capstone.REPO,
    commit=capstone.COMMIT,
    prepare=prepare,
)
