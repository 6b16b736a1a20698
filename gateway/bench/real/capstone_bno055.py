"""capstone_bno055: a BNO055 IMU taped to a floor, labelled walks at 100 Hz.

Source folder ``datasets/bno055`` of https://github.com/Capstone-Gait-Keepers/capstone:
vertical linear acceleration (gravity removed by the IMU's fusion) of walks on tile and
cork floors, with the observer's button at each heel strike. The reader and truth rules are
shared with capstone_piezo (``capstone``).

Split by session: 2024-02-11 (the walks the 200 Hz piezo also recorded, held out there too)
is held out; 2023-10-29 and 2023-11-09 are dev.
"""

from __future__ import annotations

from pathlib import Path

from gateway.bench.real import capstone
from gateway.bench.real.common import Dataset, Source, Split, split_of

HELDOUT_SESSIONS = {"2024-02-11"}
SPLIT_RULE = (
    "by session: heldout = 2024-02-11 studio session (the walks also recorded by the "
    "200 Hz piezo, heldout there too); dev = 2023-10-29 and 2023-11-09 sessions"
)


def split(source_folder: str, stem: str) -> Split:
    return split_of(stem[:10], HELDOUT_SESSIONS)


def prepare(source: Source, folder: Path) -> None:
    capstone.prepare_set(source, folder, "bno055", split, SPLIT_RULE)


DATASET = Dataset(
    name="capstone_bno055",
    kind="footstep",
    repository=capstone.REPO,
    commit=capstone.COMMIT,
    prepare=prepare,
)
