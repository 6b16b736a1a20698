"""Prepare one data set of real-sensor recordings from a local copy of its public source.

    git clone https://github.com/OWNER/NAME /data/src/NAME
    git -C /data/src/NAME checkout COMMIT
    python -m gateway.bench.real.prepare DATASET --source /data/src/NAME --out /data/ugs-real

writes ``/data/ugs-real/<kind>/DATASET/`` (NPZ recordings, ``.truth.json`` sidecars,
``manifest.json``), which ``python -m gateway.bench.real_data /data/ugs-real`` scores.
``--list`` prints every data set with its repository and commit. Recordings and truth a
previous run left in that folder are replaced. docs/real-data.md describes each data set.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from drivers.errors import InputError
from gateway.bench.real import (
    benes_pirstd,
    capstone_bno055,
    capstone_piezo,
    chnabil_mag3110,
    geosense_geophones,
    ipir_lvq,
    jxunn_geoscope,
    mlmsa_nodes,
    rdvd_parking,
    rdvd_traffic,
    xtech_goodvibes,
)
from gateway.bench.real.common import Dataset, Source, clear_folder, read_manifest

DATASETS: dict[str, Dataset] = {
    ds.name: ds
    for ds in (
        capstone_piezo.DATASET,
        capstone_bno055.DATASET,
        jxunn_geoscope.DATASET,
        geosense_geophones.DATASET,
        chnabil_mag3110.DATASET,
        rdvd_traffic.DATASET,
        rdvd_parking.DATASET,
        benes_pirstd.DATASET,
        ipir_lvq.DATASET,
        xtech_goodvibes.DATASET,
        mlmsa_nodes.DATASET,
    )
}

log = logging.getLogger(__name__)


def prepare(name: str, source_dir: Path, out: Path) -> Path:
    """Prepare data set ``name`` from ``source_dir`` into ``out/<kind>/<name>``; the folder."""
    dataset = DATASETS[name]
    source = Source.open(source_dir, dataset)
    folder = dataset.folder(out)
    clear_folder(folder)
    dataset.prepare(source, folder)
    return folder


def summary(folder: Path) -> str:
    files = read_manifest(folder)["files"]
    splits = Counter(str(f["split"]) for f in files)
    events = sum(int(f.get("n_events", 0)) for f in files)
    per_split = ", ".join(f"{n} {s}" for s, n in sorted(splits.items()))
    return f"{folder}: {len(files)} files ({per_split}), {events} events"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.bench.real.prepare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dataset", nargs="?", choices=sorted(DATASETS), metavar="DATASET")
    parser.add_argument("--source", type=Path, help="checkout of the data set's repository")
    parser.add_argument("--out", type=Path, help="folder that holds <kind>/<name>/")
    parser.add_argument("--list", action="store_true", help="list the data sets and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.list:
        for ds in DATASETS.values():
            history = f" (and history: {', '.join(ds.history)})" if ds.history else ""
            print(f"{ds.name:18} {ds.kind:13} {ds.url} @ {ds.commit}{history}")
        return 0
    if args.dataset is None or args.source is None or args.out is None:
        parser.error("DATASET, --source and --out are required (or --list)")
    try:
        folder = prepare(args.dataset, args.source, args.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
