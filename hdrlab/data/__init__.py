"""Data for the course: the embedded real HDR scenes in ``data/``, the datasets simulated from them, public datasets.

- :mod:`hdrlab.data.scenes` lists, loads, resizes, crops and splits the scenes.
- :mod:`hdrlab.data.datasets` turns them into torch datasets with the camera
  simulator: LDR/HDR pairs, exposure pairs, bracket stacks (DrTMO-style) and
  meta-learning tasks.
- :mod:`hdrlab.data.public` loads the public datasets the chapters' papers used
  (Jang et al. pairs, DrTMO brackets, VDS, HDR-Eye, HDR-Real) from their
  published folder layouts.
- :mod:`hdrlab.data.download` fetches registered files, checksummed and atomically.

Example:
    >>> from hdrlab.data import datasets, scenes
    >>> "room_windows" in scenes.list_scenes("photo")
    True
    >>> datasets.DRTMO_EVS[0], len(datasets.DRTMO_TIMES)
    (-2.0, 9)

Taught in: notebooks/00_getting_started.ipynb, notebooks/02_metahdr.ipynb,
notebooks/03_multi_exposure_generation.ipynb, notebooks/04_differentiable_recursion.ipynb,
notebooks/05_hybrid_autoencoder.ipynb
"""

from hdrlab.data import datasets, public, scenes

__all__ = ["datasets", "public", "scenes"]
