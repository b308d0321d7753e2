"""Data for the course: the embedded real HDR scenes in ``data/`` and crops of them.

:mod:`hdrlab.data.scenes` lists, loads, resizes, crops and splits the scenes.

Example:
    >>> from hdrlab.data import scenes
    >>> "room_windows" in scenes.list_scenes("photo")
    True

Taught in: notebooks/00_getting_started.ipynb
"""

from hdrlab.data import scenes

__all__ = ["scenes"]
