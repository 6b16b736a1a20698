"""Preparing the recordings of real sensors the detector is validated on.

One module per data set (``capstone_piezo``, ``capstone_bno055``, ``jxunn_geoscope``,
``chnabil_mag3110``, ``rdvd_traffic``, ``benes_pirstd``, ``ipir_lvq``,
``xtech_goodvibes``), each reading a local checkout of a public repository and writing NPZ
recordings, truth sidecars and a ``manifest.json`` with the dev/heldout split; ``common``
holds what they share and ``prepare`` is the command line::

    python -m gateway.bench.real.prepare DATASET --source CHECKOUT --out DIR

The recordings stay out of this repository (their licences do not all allow it);
docs/real-data.md describes every data set, and ``gateway.bench.real_data`` scores them.
"""
