"""Loaders for the public HDR datasets the chapters' papers used, by their published folder layouts.

- :class:`JangPairs`: ``HDR/HDR_001.hdr`` + ``LDR_exposure_{-2,0,+2}/LDR_001.jpg``
  (Jang et al. 2020; MetaHDR, chapter 02);
- :class:`DrTMOBrackets`: ``<stack>/a.png ... i.png``, 2^-10 ... 2^-6 s
  (Endo et al. 2017; multi-exposure generation, chapter 03);
- :class:`VDS`: ``<scene>/<scene>_{ev}EV_true.jpg.png`` + ``<scene>/target_hdr.hdr``
  (Lee et al. 2018; recursive synthesis, chapter 04);
- :class:`HDREye` and :class:`SingleHDRReal`: ``LDR_in/*.jpg`` + ``HDR_gt/*.hdr``
  matched by file stem (Nemoto et al. 2015, Liu et al. 2020; chapters 04, 05).

hdrlab cannot download these sets (their hosts give no checksums it could
verify, see :mod:`hdrlab.data.download`): get them by hand; a missing root,
folder or file raises :class:`~hdrlab.errors.MissingFileError` whose message
shows the expected layout, what was found and where to get the data.

Items use the keys of :mod:`hdrlab.data.datasets` where they make sense
(``ldr``, ``hdr``, ``stack``, ``times``, ``evs``, ``scene``). Conventions
(DESIGN §2): float32 ``(3, H, W)`` tensors, LDR in [0, 1] (8-bit codes / 255),
HDR linear and exactly as stored in the files (each set has its own scale;
nothing is normalised or clamped; negative values raise RangeError). Exposure
times are seconds; EVs are ``log2(t / t_ref)`` with ``t_ref`` named per class.

Real images are 1-2K pixels; two optional keywords make them fit quick runs:
``max_side`` area-downsamples every image of an item (LDR values are averaged
as stored, i.e. display-referred) so its longer side is <= ``max_side``; then
``size`` cuts a square window, the same one from every image of the item:
centred (``crop="center"``) or at a position drawn from
:func:`~hdrlab.data.datasets.item_generator` ``(seed, index)``
(``crop="random"``, reproducible per item).

Example:
    >>> import pathlib, tempfile, torch
    >>> from hdrlab.io import write_hdr, write_ldr
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder in ("LDR_in", "HDR_gt"):
    ...     (root / folder).mkdir()
    >>> _ = write_ldr(root / "LDR_in" / "00001.jpg", torch.full((3, 8, 8), 0.5))
    >>> _ = write_hdr(root / "HDR_gt" / "00001.hdr", torch.full((3, 8, 8), 4.0))
    >>> data = HDREye(root, size=4)
    >>> len(data), data[0]["scene"], data[0]["hdr"].shape
    (1, '00001', torch.Size([3, 4, 4]))

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from hdrlab.data.datasets import DRTMO_TIMES, _check_optional_int, _check_position, item_generator
from hdrlab.data.scenes import center_crop, random_crop, resize_area
from hdrlab.errors import (
    ChoiceError,
    DTypeError,
    ExposureError,
    FileFormatError,
    MissingFileError,
    ShapeError,
    describe,
)
from hdrlab.io import HDR_EXTENSIONS, LDR_EXTENSIONS, read_hdr, read_ldr
from hdrlab.validate import as_float_tensor, check_exposure_times, check_int, check_radiance

__all__ = [
    "CROPS",
    "DRTMO_FILES",
    "JANG_EXPOSURES",
    "VDS_EVS",
    "DrTMOBrackets",
    "HDREye",
    "JangPairs",
    "SingleHDRReal",
    "VDS",
]

#: Where ``size`` cuts its window: the centre, or a reproducible random position per item.
CROPS = ("center", "random")
#: File names of a DrTMO stack, shortest exposure (2^-10 s) first.
DRTMO_FILES: tuple[str, ...] = tuple(f"{letter}.png" for letter in "abcdefghi")
#: The three exposure folders of the Jang et al. pairs (``LDR_exposure_<name>``).
JANG_EXPOSURES = ("-2", "0", "+2")
#: The seven EVs of a VDS stack, relative to its ``0EV`` shot.
VDS_EVS = (-3, -2, -1, 0, 1, 2, 3)
_LISTED = 8  # entries shown when an error lists what a folder holds


@dataclass(frozen=True)
class _Layout:
    """What a dataset's folder should look like and where to get it (for error messages)."""

    name: str
    tree: str
    source: str


def _natural_key(name: str) -> list:
    """Sort key that orders ``t2`` before ``t10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _listing(folder: Path) -> str:
    """A short description of what ``folder`` holds."""
    if not folder.is_dir():
        return f"no folder {str(folder)!r}"
    names = sorted((entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir()), key=_natural_key)
    shown = ", ".join(names[:_LISTED]) + (f", ... ({len(names)} entries)" if len(names) > _LISTED else "")
    return f"{str(folder)!r} holding [{shown}]"


def _missing(layout: _Layout, root: Path, found: str) -> MissingFileError:
    return MissingFileError(describe(
        f"the {layout.name} layout under root={str(root)!r} (shown below)",
        found,
        f"hdrlab cannot download the {layout.name} (no checksum it could verify): get it by hand from "
        f"{layout.source}, unpack it, and pass as root the folder that holds this layout:\n{layout.tree}",
    ))


def _summarise(names: Sequence[str]) -> str:
    names = sorted(names, key=_natural_key)
    return ", ".join(names[:_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > _LISTED else "")


def _read_pair_images(paths: Sequence[Path], hdr_path: Path) -> torch.Tensor:
    """LDR images and the HDR of one item as ``(K + 1, 3, H, W)``; all must have one size."""
    hdr = read_hdr(hdr_path)
    check_radiance(hdr, f"HDR image {str(hdr_path)!r}")
    images = [read_ldr(path) for path in paths] + [hdr]
    sizes = {tuple(image.shape[-2:]) for image in images}
    if len(sizes) > 1:
        raise ShapeError(describe(
            "the LDR and HDR images of an item to have one size",
            ", ".join(f"{path.name}: {tuple(image.shape[-2:])}" for path, image in zip([*paths, hdr_path], images)),
            "Re-extract the dataset; hdrlab does not align or resize mismatched pairs.",
        ))
    return torch.stack(images)


class _FolderDataset(Dataset):
    """Shared root check, downsampling and cropping of the public loaders."""

    layout: _Layout

    def __init__(self, root: str | os.PathLike, *, size: int | None, max_side: int | None, crop: str,
                 seed: int) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise DTypeError(describe("root as a path (str or pathlib.Path)", type(root).__name__,
                                      "Pass the dataset folder, e.g. root='data/LDR-HDR-pair_Dataset'."))
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise _missing(self.layout, self.root, "no such folder")
        self.size = _check_optional_int(size, "size", 1)
        self.max_side = _check_optional_int(max_side, "max_side", 1)
        if crop not in CROPS:
            raise ChoiceError(describe(f"crop in {CROPS}", repr(crop),
                                       "Use 'center' for evaluation, 'random' to train."))
        self.crop = crop
        self.seed = check_int(seed, "seed", 0)

    def _subfolder(self, name: str) -> Path:
        folder = self.root / name
        if not folder.is_dir():
            raise _missing(self.layout, self.root, f"no {name}/ folder in {_listing(self.root)}")
        return folder

    def _fit(self, images: torch.Tensor, index: int) -> torch.Tensor:
        """Downsample to ``max_side``, then cut the ``size`` window (same for all images of the item)."""
        height, width = images.shape[-2:]
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            images = resize_area(images, (max(1, round(height * scale)), max(1, round(width * scale))))
        if self.size is None:
            return images
        if min(images.shape[-2:]) < self.size:
            raise ShapeError(describe(
                f"images of at least {self.size} x {self.size} pixels after max_side={self.max_side}",
                f"size {tuple(images.shape[-2:])} (item {index})",
                f"Lower size to <= {min(images.shape[-2:])}, or raise max_side.",
            ))
        window = (self.size, self.size)
        if self.crop == "random":
            return random_crop(images, window, item_generator(self.seed, index)).contiguous()
        return center_crop(images, window).contiguous()

    def _check_index(self, index: object) -> int:
        return _check_position(index, len(self), "Check len(dataset).")


class JangPairs(_FolderDataset):
    """The LDR-HDR pair dataset of Jang et al.: 3 exposures and one HDR per scene (used by MetaHDR).

    Layout (450 scenes, 1024 x 1024, in the ``LDR-HDR-pair_Dataset`` folder)::

        root/HDR/HDR_001.hdr ...
        root/LDR_exposure_-2/LDR_001.jpg ...
        root/LDR_exposure_0/LDR_001.jpg ...
        root/LDR_exposure_+2/LDR_001.jpg ...

    Scenes are paired by number (``LDR_001.jpg`` <-> ``HDR_001.hdr``) and sorted
    numerically; every HDR must have every exposure and vice versa. The EV of an
    exposure is its folder suffix as a number (relative to the ``0`` shot).

    Args:
        root: the folder holding ``HDR/`` and the ``LDR_exposure_*`` folders.
        exposures: folder suffixes to use, e.g. ``("-2", "0", "+2")``.
        tasks: False: one item per (scene, exposure); True: one meta-learning task per scene.
        query: with ``tasks=True``, the exposure held out as query (one of
            ``exposures``); None: the middle one, ``exposures[len // 2]``.
        size: side of a square window cut from every image, or None.
        max_side: area-downsample first so the longer side is <= this, or None.
        crop: ``"center"`` or ``"random"`` (reproducible per ``(seed, index)``).
        seed: an int ``>= 0`` for random crops.

    Returns (per item):
        ``tasks=False``: dict with ``ldr`` ``(3, H, W)`` in [0, 1], ``hdr`` ``(3, H, W)``
        as stored, ``ev`` (0-d tensor), ``exposure`` (str), ``scene`` (str, e.g. ``"001"``);
        items ordered scene by scene, exposures in the given order.
        ``tasks=True``: the keys of :class:`~hdrlab.data.datasets.MetaTasks`
        (``support_ldr`` ``(E-1, 3, H, W)``, ``support_hdr``, ``support_ev``,
        ``query_ldr`` ``(1, 3, H, W)``, ``query_hdr``, ``query_ev``, support in
        ascending EV) and ``scene``; every HDR label is the scene's HDR.

    Raises:
        MissingFileError: missing root, folder or file, or an LDR without its HDR (the message shows the layout).
        ChoiceError: an exposure that is not a number, repeated exposures, an unknown ``query`` or ``crop``.
        DTypeError, RangeError: invalid ``size``, ``max_side``, ``seed`` or index type.
        ShapeError: the images of a scene differ in size, or are smaller than ``size``.
        IndexError: an index outside ``[-len, len)``.

    Example:
        >>> import pathlib, tempfile, torch
        >>> from hdrlab.io import write_hdr, write_ldr
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for folder in ("HDR", "LDR_exposure_-2", "LDR_exposure_0", "LDR_exposure_+2"):
        ...     (root / folder).mkdir()
        >>> _ = write_hdr(root / "HDR" / "HDR_001.hdr", torch.full((3, 8, 8), 2.0))
        >>> for exposure in ("-2", "0", "+2"):
        ...     _ = write_ldr(root / f"LDR_exposure_{exposure}" / "LDR_001.jpg", torch.full((3, 8, 8), 0.5))
        >>> pairs = JangPairs(root)
        >>> len(pairs), pairs[2]["exposure"], float(pairs[2]["ev"])
        (3, '+2', 2.0)
        >>> JangPairs(root, tasks=True)[0]["support_ev"].tolist()
        [-2.0, 2.0]

    References:
        Jang, Bang, Jang & Kang, "Dynamic range expansion using cumulative
        histogram learning for high dynamic range image generation", IEEE Access 8, 2020.

    Taught in: notebooks/02_metahdr.ipynb
    """

    layout = _Layout(
        "LDR-HDR pair dataset (Jang et al. 2020)",
        "  HDR/HDR_001.hdr, HDR/HDR_002.hdr, ...\n  LDR_exposure_-2/LDR_001.jpg, ...\n"
        "  LDR_exposure_0/LDR_001.jpg, ...\n  LDR_exposure_+2/LDR_001.jpg, ...",
        "https://github.com/HanbyolJang/LDR-HDR-pair_Dataset (the MetaHDR code, github.com/edwin-pan/MetaHDR, "
        "expects it at data/LDR-HDR-pair_Dataset)",
    )
    _HDR = re.compile(r"^HDR_(\d+)\.hdr$")
    _LDR = re.compile(r"^LDR_(\d+)\.jpg$")

    def __init__(
        self,
        root: str | os.PathLike,
        exposures: Sequence[str] = JANG_EXPOSURES,
        *,
        tasks: bool = False,
        query: str | None = None,
        size: int | None = None,
        max_side: int | None = None,
        crop: str = "center",
        seed: int = 0,
    ) -> None:
        super().__init__(root, size=size, max_side=max_side, crop=crop, seed=seed)
        self.exposures, self.evs = self._check_exposures(exposures)
        if not isinstance(tasks, bool):
            raise DTypeError(describe("tasks as a bool", repr(tasks), "Pass tasks=True for one task per scene."))
        self.tasks = tasks
        self.query = self._check_query(query) if tasks else None
        self.scenes = self._scan()

    @staticmethod
    def _check_exposures(exposures: object) -> tuple[tuple[str, ...], tuple[float, ...]]:
        if isinstance(exposures, str) or not isinstance(exposures, (list, tuple)) or not exposures:
            raise ChoiceError(describe("exposures as a non-empty tuple of folder suffixes", repr(exposures),
                                       "Pass e.g. exposures=('-2', '0', '+2')."))
        try:
            evs = tuple(float(exposure) for exposure in exposures)
        except (TypeError, ValueError) as err:
            raise ChoiceError(describe(
                "exposure folder suffixes that are numbers (EVs)", repr(exposures),
                "Use the suffixes of the LDR_exposure_* folders, e.g. '-2', '0', '+2'.",
            )) from err
        if len(set(evs)) != len(evs) or not all(isinstance(exposure, str) for exposure in exposures):
            raise ChoiceError(describe("distinct exposure suffixes given as strings", repr(exposures),
                                       "List each folder suffix once, e.g. ('-2', '0', '+2')."))
        return tuple(exposures), evs

    def _check_query(self, query: object) -> int:
        if len(self.exposures) < 2:
            raise ChoiceError(describe("at least 2 exposures for tasks (support and query)", repr(self.exposures),
                                       "Pass exposures=('-2', '0', '+2')."))
        if query is None:
            return len(self.exposures) // 2
        if query not in self.exposures:
            raise ChoiceError(describe(f"query in {self.exposures}", repr(query), "Pick one of the exposures."))
        return self.exposures.index(query)

    def _numbers(self, folder: Path, pattern: re.Pattern) -> set[str]:
        return {match.group(1) for entry in folder.iterdir() if (match := pattern.match(entry.name))}

    def _scan(self) -> list[str]:
        scenes = sorted(self._numbers(self._subfolder("HDR"), self._HDR), key=int)
        if not scenes:
            raise _missing(self.layout, self.root, f"no HDR_<number>.hdr files in {_listing(self.root / 'HDR')}")
        for exposure in self.exposures:
            folder = self._subfolder(f"LDR_exposure_{exposure}")
            ldr = self._numbers(folder, self._LDR)
            if ldr != set(scenes):
                lacking = [f"LDR_{n}.jpg" for n in set(scenes) - ldr] + [f"HDR_{n}.hdr" for n in ldr - set(scenes)]
                raise _missing(self.layout, self.root,
                               f"unpaired files for exposure {exposure!r}: missing {_summarise(lacking)}")
        return scenes

    def __len__(self) -> int:
        return len(self.scenes) * (1 if self.tasks else len(self.exposures))

    def _paths(self, scene: str, exposures: Sequence[int]) -> tuple[list[Path], Path]:
        ldr = [self.root / f"LDR_exposure_{self.exposures[e]}" / f"LDR_{scene}.jpg" for e in exposures]
        return ldr, self.root / "HDR" / f"HDR_{scene}.hdr"

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        if self.tasks:
            return self._task(index)
        scene_index, exposure = divmod(index, len(self.exposures))
        scene = self.scenes[scene_index]
        ldr, hdr = self._fit(_read_pair_images(*self._paths(scene, [exposure])), index)
        return {"ldr": ldr, "hdr": hdr, "ev": torch.tensor(self.evs[exposure]),
                "exposure": self.exposures[exposure], "scene": scene}

    def _task(self, index: int) -> dict:
        scene = self.scenes[index]
        support = sorted((e for e in range(len(self.exposures)) if e != self.query), key=lambda e: self.evs[e])
        images = self._fit(_read_pair_images(*self._paths(scene, [*support, self.query])), index)
        hdr = images[-1:]
        return {
            "support_ldr": images[: len(support)],
            "support_hdr": hdr.repeat(len(support), 1, 1, 1),
            "support_ev": torch.tensor([self.evs[e] for e in support]),
            "query_ldr": images[len(support) : len(support) + 1],
            "query_hdr": hdr.clone(),
            "query_ev": torch.tensor([self.evs[self.query]]),
            "scene": scene,
        }


def _check_times(times: object, count: int) -> torch.Tensor:
    values = as_float_tensor(times, "times")  # type: ignore[arg-type]
    check_exposure_times(values, n=count, name="times")
    if values.dim() != 1:
        raise ShapeError(describe("times of shape (N,)", f"shape {tuple(values.shape)}", "Pass one time per file."))
    return values


class DrTMOBrackets(_FolderDataset):
    """DrTMO bracket stacks: 9 LDR exposures per stack in half stops, 2^-10 ... 2^-6 s.

    Layout (as released with Le et al.'s multi-exposure generation code:
    ``training_data/{Train,Test}/Bracketed_images/``; stack folders are named
    ``<HDR name>_<...>_<response curve>``)::

        root/<stack>/a.png  (2^-10 s)
        root/<stack>/b.png  (2^-9.5 s)
        ...
        root/<stack>/i.png  (2^-6 s)

    Every sub-folder of ``root`` is a stack and must hold every file of
    ``files``. The times are not stored in the release (its label CSVs list
    them: ``a`` = 2^-10 s ... ``i`` = 2^-6 s, ``e`` = 2^-8 s is the input the
    paper uses); ``files`` and ``times`` are keywords in case a copy differs.
    EVs are relative to the middle file, ``times[len // 2]``. No HDR ships with
    the brackets.

    Args:
        root: the folder holding the stack folders.
        times: exposure time of each file in seconds, strictly ascending;
            default :data:`~hdrlab.data.datasets.DRTMO_TIMES`.
        files: file names in the same order as ``times``; default :data:`DRTMO_FILES`.
        size, max_side, crop, seed: see :class:`JangPairs`.

    Returns (per item):
        dict with ``stack`` ``(N, 3, H, W)`` in [0, 1] (shortest first), ``times``
        ``(N,)`` seconds, ``evs`` ``(N,)``, ``scene`` (the stack folder's name).

    Raises:
        MissingFileError: missing root, no stack folders, or a stack missing files.
        ExposureError: times not positive and strictly ascending, or not one per file.
        ChoiceError, DTypeError, RangeError, ShapeError, IndexError: see :class:`JangPairs`.

    Example:
        >>> import pathlib, tempfile, torch
        >>> from hdrlab.io import write_ldr
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "scene_srgb").mkdir()
        >>> for k, name in enumerate(DRTMO_FILES):
        ...     _ = write_ldr(root / "scene_srgb" / name, torch.full((3, 4, 4), k / 8))
        >>> item = DrTMOBrackets(root)[0]
        >>> item["stack"].shape, item["evs"][::4].tolist()
        (torch.Size([9, 3, 4, 4]), [-2.0, 0.0, 2.0])

    References:
        Endo, Kanamori & Mitani, "Deep reverse tone mapping", SIGGRAPH Asia 2017.
        Le, Le, Nguyen & Hua, "Single-image HDR reconstruction by multi-exposure generation", WACV 2023.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    layout = _Layout(
        "DrTMO bracket set (Endo et al. 2017)",
        "  <stack>/a.png, <stack>/b.png, ..., <stack>/i.png  (9 exposures, 2^-10 s ... 2^-6 s)",
        "the DrTMO project page http://www.npal.cs.tsukuba.ac.jp/~endo/projects/DrTMO/ or the 'DrTMO' link "
        "of https://github.com/VinAIResearch/single_image_hdr (root = training_data/Train/Bracketed_images)",
    )

    def __init__(
        self,
        root: str | os.PathLike,
        times: Sequence[float] = DRTMO_TIMES,
        *,
        files: Sequence[str] = DRTMO_FILES,
        size: int | None = None,
        max_side: int | None = None,
        crop: str = "center",
        seed: int = 0,
    ) -> None:
        super().__init__(root, size=size, max_side=max_side, crop=crop, seed=seed)
        if isinstance(files, str) or not isinstance(files, (list, tuple)) or not files:
            raise ChoiceError(describe("files as a non-empty tuple of file names", repr(files),
                                       "Pass e.g. files=('a.png', ..., 'i.png')."))
        self.files = tuple(files)
        self.times = _check_times(times, len(self.files))
        self.evs = torch.log2(self.times / self.times[len(self.files) // 2])
        self.scenes = self._scan()

    def _scan(self) -> list[str]:
        stacks = sorted((entry.name for entry in self.root.iterdir() if entry.is_dir()), key=_natural_key)
        if not stacks:
            raise _missing(self.layout, self.root, f"no stack folders: {_listing(self.root)}")
        incomplete = [f"{stack}/{name}" for stack in stacks for name in self.files
                      if not (self.root / stack / name).is_file()]
        if incomplete:
            raise _missing(self.layout, self.root, f"stacks missing files: {_summarise(incomplete)}")
        return stacks

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        scene = self.scenes[index]
        stack = self._fit(torch.stack([read_ldr(self.root / scene / name) for name in self.files]), index)
        return {"stack": stack, "times": self.times.clone(), "evs": self.evs.clone(), "scene": scene}


def _check_vds_evs(evs: object) -> tuple[int, ...]:
    if not isinstance(evs, (list, tuple)) or not evs or not all(
        isinstance(ev, int) and not isinstance(ev, bool) for ev in evs
    ):
        raise DTypeError(describe("evs as a non-empty tuple of ints (VDS files use whole stops)", repr(evs),
                                  "Pass e.g. evs=(-3, -2, -1, 0, 1, 2, 3)."))
    if any(b <= a for a, b in zip(evs, evs[1:])):
        raise ExposureError(describe("strictly ascending evs", repr(evs), "List each EV once, darkest first."))
    return tuple(evs)


class VDS(_FolderDataset):
    """The VDS set of Lee et al.: 7 LDR exposures in whole stops and an HDR per scene.

    Layout (scene folders such as ``t1``, ``t2``, ...; sorted naturally)::

        root/<scene>/<scene>_-3EV_true.jpg.png ... <scene>_0EV_true.jpg.png ... <scene>_3EV_true.jpg.png
        root/<scene>/target_hdr.hdr

    Sign formatting (as in the authors' and others' loaders, ``str(ev)``):
    negative EVs carry ``-``, zero is ``0`` and positive EVs have **no** ``+``
    (``t1_3EV_true.jpg.png``). Some copies keep the HDRs in a parallel tree
    (``<split>_hdr_set/<scene>/target_hdr.hdr`` beside ``<split>_set/``): pass
    that folder as ``hdr_root``. EVs are relative to the ``0EV`` shot; times are
    ``2**ev`` relative seconds (EV 0 = 1 s), since the set stores no times.

    Args:
        root: the folder holding the scene folders.
        evs: ascending whole-stop EVs to load; default :data:`VDS_EVS`.
        hdr_name: file name of the HDR in each scene folder.
        hdr_root: folder of per-scene HDR folders, or None (HDR beside the LDRs).
        size, max_side, crop, seed: see :class:`JangPairs`.

    Returns (per item):
        dict with ``stack`` ``(N, 3, H, W)`` in [0, 1] (darkest first), ``evs`` ``(N,)``,
        ``times`` ``(N,)``, ``hdr`` ``(3, H, W)`` as stored, ``scene``.

    Raises:
        MissingFileError: missing root, no scene folders, or a scene missing files.
        DTypeError: evs not whole numbers; ExposureError: evs not strictly ascending.
        ChoiceError, RangeError, ShapeError, IndexError: see :class:`JangPairs`.

    Example:
        >>> import pathlib, tempfile, torch
        >>> from hdrlab.io import write_hdr, write_ldr
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "t1").mkdir()
        >>> for ev in VDS_EVS:
        ...     _ = write_ldr(root / "t1" / f"t1_{ev}EV_true.jpg.png", torch.full((3, 4, 4), (ev + 4) / 8))
        >>> _ = write_hdr(root / "t1" / "target_hdr.hdr", torch.ones(3, 4, 4))
        >>> item = VDS(root)[0]
        >>> item["stack"].shape, item["times"][2:5].tolist()
        (torch.Size([7, 3, 4, 4]), [0.5, 1.0, 2.0])

    References:
        Lee, An & Kang, "Deep recursive HDRI: inverse tone mapping using
        generative adversarial networks", ECCV 2018. Lee, An & Kang, "Deep chain
        HDRI: reconstructing a high dynamic range image from a single low dynamic
        range image", IEEE Access 6, 2018.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    layout = _Layout(
        "VDS set (Lee et al. 2018)",
        "  <scene>/<scene>_-3EV_true.jpg.png, ..., <scene>_0EV_true.jpg.png, ..., <scene>_3EV_true.jpg.png\n"
        "  <scene>/target_hdr.hdr  (or <hdr_root>/<scene>/target_hdr.hdr)",
        "the authors, via https://github.com/Siyeong-Lee/Deep_Recursive_HDRI (Lee, An & Kang, ECCV 2018)",
    )

    def __init__(
        self,
        root: str | os.PathLike,
        evs: Sequence[int] = VDS_EVS,
        *,
        hdr_name: str = "target_hdr.hdr",
        hdr_root: str | os.PathLike | None = None,
        size: int | None = None,
        max_side: int | None = None,
        crop: str = "center",
        seed: int = 0,
    ) -> None:
        super().__init__(root, size=size, max_side=max_side, crop=crop, seed=seed)
        self.evs = _check_vds_evs(evs)
        if not isinstance(hdr_name, str) or not hdr_name:
            raise DTypeError(describe("hdr_name as a file name", repr(hdr_name), "Pass e.g. 'target_hdr.hdr'."))
        self.hdr_name = hdr_name
        if hdr_root is not None and not isinstance(hdr_root, (str, os.PathLike)):
            raise DTypeError(describe("hdr_root as a path or None", type(hdr_root).__name__,
                                      "Pass the folder of per-scene HDR folders."))
        self.hdr_root = self.root if hdr_root is None else Path(hdr_root).expanduser()
        self.scenes = self._scan()

    def _ldr_path(self, scene: str, ev: int) -> Path:
        return self.root / scene / f"{scene}_{ev:d}EV_true.jpg.png"

    def _scan(self) -> list[str]:
        scenes = sorted((entry.name for entry in self.root.iterdir() if entry.is_dir()), key=_natural_key)
        if not scenes:
            raise _missing(self.layout, self.root, f"no scene folders: {_listing(self.root)}")
        lacking = [str(path.relative_to(path.parents[1])) for scene in scenes
                   for path in [*(self._ldr_path(scene, ev) for ev in self.evs), self.hdr_root / scene / self.hdr_name]
                   if not path.is_file()]
        if lacking:
            raise _missing(self.layout, self.root, f"scenes missing files: {_summarise(lacking)}")
        return scenes

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        scene = self.scenes[index]
        paths = [self._ldr_path(scene, ev) for ev in self.evs]
        images = self._fit(_read_pair_images(paths, self.hdr_root / scene / self.hdr_name), index)
        evs = torch.tensor(self.evs, dtype=torch.float32)
        return {"stack": images[:-1], "evs": evs, "times": torch.exp2(evs), "hdr": images[-1], "scene": scene}


class _InputGroundTruthPairs(_FolderDataset):
    """``LDR_in/<stem>.jpg`` + ``HDR_gt/<stem>.hdr`` pairs matched by file stem."""

    def __init__(self, root: str | os.PathLike, *, size: int | None = None, max_side: int | None = None,
                 crop: str = "center", seed: int = 0) -> None:
        super().__init__(root, size=size, max_side=max_side, crop=crop, seed=seed)
        self._ldr = self._by_stem(self._subfolder("LDR_in"), LDR_EXTENSIONS)
        self._hdr = self._by_stem(self._subfolder("HDR_gt"), HDR_EXTENSIONS)
        unpaired = [f"LDR_in/{stem}.*" for stem in self._hdr.keys() - self._ldr.keys()]
        unpaired += [f"HDR_gt/{stem}.*" for stem in self._ldr.keys() - self._hdr.keys()]
        if unpaired:
            raise _missing(self.layout, self.root, f"unpaired files, missing {_summarise(unpaired)}")
        if not self._ldr:
            raise _missing(self.layout, self.root, f"no images: {_listing(self.root / 'LDR_in')}")
        self.scenes = sorted(self._ldr, key=_natural_key)

    @staticmethod
    def _by_stem(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in extensions:
                continue
            if path.stem in found:
                raise FileFormatError(describe(f"one image per stem in {str(folder)!r}",
                                               f"{found[path.stem].name} and {path.name}",
                                               "Remove the duplicate so each LDR pairs with one HDR."))
            found[path.stem] = path
        return found

    def __len__(self) -> int:
        return len(self.scenes)

    def files(self, index: int) -> tuple[Path, Path]:
        """The ``(LDR, HDR)`` file paths of item ``index``, for readers that need the images as stored."""
        scene = self.scenes[self._check_index(index)]
        return self._ldr[scene], self._hdr[scene]

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        scene = self.scenes[index]
        ldr, hdr = self._fit(_read_pair_images([self._ldr[scene]], self._hdr[scene]), index)
        return {"ldr": ldr, "hdr": hdr, "scene": scene}


_PAIR_TREE = "  LDR_in/<name>.jpg, ...  (also .jpeg/.png)\n  HDR_gt/<name>.hdr, ...  (also .exr; same names)"


class HDREye(_InputGroundTruthPairs):
    """HDR-Eye test pairs (46 scenes): one LDR input and its HDR ground truth, matched by file name.

    Layout (the arrangement of the SingleHDR test data; the original HDR-Eye
    release of Nemoto et al. holds the HDR images and their brackets)::

        root/LDR_in/00001.jpg ...
        root/HDR_gt/00001.hdr ...

    Args:
        root: the folder holding ``LDR_in/`` and ``HDR_gt/``.
        size, max_side, crop, seed: see :class:`JangPairs`.

    Returns (per item):
        dict with ``ldr`` ``(3, H, W)`` in [0, 1], ``hdr`` ``(3, H, W)`` as stored, ``scene`` (the file stem);
        sorted by stem.

    Raises:
        MissingFileError: missing root or folders, no images, or an image without its partner.
        FileFormatError: two images with one stem in a folder.
        ChoiceError, DTypeError, RangeError, ShapeError, IndexError: see :class:`JangPairs`.

    Example:
        See the module example.

    References:
        Nemoto, Korshunov, Hanhart & Ebrahimi, "Visual attention in LDR and HDR
        images", VPQM 2015. Liu et al., "Single-image HDR reconstruction by
        learning to reverse the camera pipeline", CVPR 2020.

    Taught in: notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """

    layout = _Layout(
        "HDR-Eye test set",
        _PAIR_TREE,
        "the EPFL MMSPG HDR-Eye page https://www.epfl.ch/labs/mmspg/downloads/hdr-eye/ (Nemoto et al. 2015) or "
        "the SingleHDR test data https://www.cmlab.csie.ntu.edu.tw/~yulunliu/SingleHDR (Liu et al. 2020)",
    )


class SingleHDRReal(_InputGroundTruthPairs):
    """HDR-Real pairs of Liu et al. (SingleHDR): real camera LDR inputs and their merged HDRs, matched by name.

    Layout::

        root/LDR_in/<name>.jpg ...
        root/HDR_gt/<name>.hdr ...

    Args:
        root: the folder holding ``LDR_in/`` and ``HDR_gt/`` (the training or test part).
        size, max_side, crop, seed: see :class:`JangPairs`.

    Returns (per item):
        dict with ``ldr`` ``(3, H, W)`` in [0, 1], ``hdr`` ``(3, H, W)`` as stored, ``scene`` (the file stem);
        sorted by stem.

    Raises:
        See :class:`HDREye`.

    Example:
        See the module example (the same layout).

    References:
        Liu, Lai, Chen, Kao, Yang, Chuang & Huang, "Single-image HDR
        reconstruction by learning to reverse the camera pipeline", CVPR 2020.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    layout = _Layout(
        "HDR-Real set (Liu et al. 2020)",
        _PAIR_TREE,
        "the SingleHDR project page https://www.cmlab.csie.ntu.edu.tw/~yulunliu/SingleHDR "
        "(code: https://github.com/alex04072000/SingleHDR)",
    )
