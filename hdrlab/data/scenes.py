"""The course's real HDR scenes: list, load, resize, crop, split and measure them.

27 real radiance maps ship in the repository's ``data/`` folder (see
``data/README.md`` and ``data/LICENSES.md``): 26 equirectangular panoramas
(Poly Haven, CC0) and one photograph (JPEG XL test data, BSD-3-Clause).
Conventions (DESIGN §2): radiance is a float32 tensor ``(3, H, W)``, linear,
scene-referred, ``>= 0`` and unbounded.

Known defects, handled in :func:`load_scene` and nowhere else: the panoramas
were stored with lossy DWAB compression, which leaves negative values (ringing
around bright lights; the sun of some ``pmndrs_*`` scenes has a dropped
channel). Their negatives are clamped to 0, and any NaN/inf replaced by 0.
Duplicate locations across the two Poly Haven sources share a
``duplicate_group`` and always land on the same side of :func:`split_scenes`.

Example:
    >>> hdr = load_scene("pmndrs_sky", max_side=64)
    >>> hdr.shape, bool(hdr.min() >= 0)
    (torch.Size([3, 32, 64]), True)
    >>> view = perspective_crop(hdr, (16, 16), fov_deg=90.0, yaw_deg=45.0)
    >>> view.shape
    torch.Size([3, 16, 16])

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

import functools
import math
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import hdrlab
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.imaging.tonemap import luminance
from hdrlab.io import read_hdr
from hdrlab.validate import check_image, check_radiance

__all__ = [
    "DATA_VARIABLE",
    "KINDS",
    "LOSSY_SOURCES",
    "SPLITS",
    "SceneInfo",
    "center_crop",
    "data_dir",
    "dynamic_range_stops",
    "list_scenes",
    "load_scene",
    "perspective_crop",
    "random_crop",
    "resize_area",
    "scene_info",
    "split_scenes",
]

#: Environment variable that points hdrlab at another folder of scene files.
DATA_VARIABLE = "HDRLAB_DATA"
#: Scene kinds: equirectangular environment maps, or ordinary photographs.
KINDS = ("panorama", "photo")
#: Sources stored with lossy (DWAB) EXR compression; their negatives are clamped on load.
LOSSY_SOURCES = frozenset({"blender", "pmndrs"})
#: Names of the three splits returned by :func:`split_scenes`.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SceneInfo:
    """Metadata of one scene.

    Attributes:
        name: scene name, the file name without ``.exr``.
        kind: ``"panorama"`` (equirectangular, width = 2 x height) or ``"photo"``.
        source: ``"blender"`` (Blender 3.4.1 studio lights, Poly Haven),
            ``"pmndrs"`` (npm ``@pmndrs/assets`` 1.7.0, Poly Haven) or
            ``"libjxl"`` (Debian ``libjxl-testdata``).
        licence: SPDX identifier, ``"CC0-1.0"`` or ``"BSD-3-Clause"``.
        path: the EXR file (absolute when returned by :func:`scene_info`).
        duplicate_group: shared by scenes of the same location, else None.
    """

    name: str
    kind: str
    source: str
    licence: str
    path: Path
    duplicate_group: str | None = None


_BLENDER = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
_PMNDRS = (
    "apartment", "bridge", "city", "dawn", "esplanade", "forest", "hall", "lab", "lobby",
    "night", "park", "sky", "studio", "sunrise", "sunset", "venice", "warehouse", "workshop",
)
# Same location in both Poly Haven sources: the same sunrise capture at two
# resolutions; the same Venice waterfront; the same photo studio, lit differently.
_DUPLICATES = {
    "blender_sunrise": "sunrise_field", "pmndrs_sunrise": "sunrise_field",
    "blender_sunset": "venice_waterfront", "pmndrs_venice": "venice_waterfront",
    "blender_studio": "photo_studio", "pmndrs_studio": "photo_studio",
}


def _panorama(source: str, scene: str) -> SceneInfo:
    name = f"{source}_{scene}"
    return SceneInfo(name, "panorama", source, "CC0-1.0", Path(f"{name}.exr"), _DUPLICATES.get(name))


_SCENES = {
    info.name: info
    for info in [
        *(_panorama("blender", scene) for scene in _BLENDER),
        *(_panorama("pmndrs", scene) for scene in _PMNDRS),
        SceneInfo("room_windows", "photo", "libjxl", "BSD-3-Clause", Path("room_windows.exr")),
    ]
}


def data_dir() -> Path:
    """The folder holding the scene files: ``$HDRLAB_DATA`` if set, else ``data/`` in the repository.

    Returns:
        An existing folder (``<repository root>/data`` for an editable install).

    Raises:
        MissingFileError: the folder does not exist (e.g. hdrlab was installed
            from a wheel, without the repository).

    Example:
        >>> (data_dir() / "room_windows.exr").is_file()
        True

    Taught in: notebooks/00_getting_started.ipynb
    """
    configured = os.environ.get(DATA_VARIABLE, "").strip()
    folder = Path(configured).expanduser() if configured else Path(hdrlab.__file__).resolve().parents[1] / "data"
    if not folder.is_dir():
        origin = f"set by {DATA_VARIABLE}" if configured else "the repository's data/ folder"
        raise MissingFileError(
            describe(
                "the folder of HDR scene files",
                f"{str(folder)!r} ({origin}), which does not exist",
                f"Clone the repository (git clone https://github.com/{hdrlab.REPOSITORY}) and `pip install -e .` "
                f"it, or set {DATA_VARIABLE} to a folder holding the scene .exr files.",
            )
        )
    return folder


def list_scenes(kind: str | None = None) -> list[str]:
    """Names of the embedded scenes, sorted, optionally only one kind.

    Args:
        kind: None for all, ``"panorama"`` or ``"photo"``.

    Returns:
        Sorted scene names (27 in all: 26 panoramas, 1 photo).

    Raises:
        ChoiceError: unknown ``kind``.

    Example:
        >>> len(list_scenes()), len(list_scenes("panorama")), list_scenes("photo")
        (27, 26, ['room_windows'])

    Taught in: notebooks/00_getting_started.ipynb
    """
    if kind is not None and kind not in KINDS:
        raise ChoiceError(describe(f"kind None or one of {KINDS}", repr(kind), "Pass kind='panorama' or kind='photo'."))
    return sorted(name for name, info in _SCENES.items() if kind is None or info.kind == kind)


def scene_info(name: str) -> SceneInfo:
    """Metadata of one scene, with ``path`` resolved inside :func:`data_dir`.

    Args:
        name: a name from :func:`list_scenes`.

    Returns:
        A :class:`SceneInfo` whose ``path`` is absolute.

    Raises:
        ChoiceError: unknown name (the message lists the available ones).
        MissingFileError: the data folder does not exist.

    Example:
        >>> info = scene_info("pmndrs_venice")
        >>> info.kind, info.licence, info.duplicate_group
        ('panorama', 'CC0-1.0', 'venice_waterfront')

    Taught in: notebooks/00_getting_started.ipynb
    """
    if not isinstance(name, str) or name not in _SCENES:
        raise ChoiceError(
            describe("a scene name", repr(name), f"Pick one of list_scenes(): {', '.join(list_scenes())}.")
        )
    info = _SCENES[name]
    return replace(info, path=data_dir() / info.path)


@functools.lru_cache(maxsize=32)
def _load_full(name: str, path: str) -> torch.Tensor:
    """Full-resolution radiance of a scene, defects of lossy sources handled (cached per file)."""
    radiance = read_hdr(path)
    if _SCENES[name].source in LOSSY_SOURCES:
        radiance = torch.nan_to_num(radiance, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
    check_radiance(radiance, f"radiance of scene {name!r}")
    return radiance


def _check_count(value: object, name: str) -> int:
    """A positive integer (a size in pixels)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DTypeError(describe(f"{name} as an integer number of pixels", repr(value), f"Pass {name} as an int."))
    if value < 1:
        raise RangeError(describe(f"{name} >= 1 pixel", repr(value), f"Pass a positive {name}."))
    return value


def _check_size(size: object) -> tuple[int, int]:
    """A pair ``(H, W)`` of positive integers."""
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ShapeError(describe("size as a pair (H, W)", repr(size), "Pass e.g. size=(128, 256)."))
    return _check_count(size[0], "size[0] (height)"), _check_count(size[1], "size[1] (width)")


def _check_fits(image: torch.Tensor, size: tuple[int, int], fix: str) -> None:
    if size[0] > image.shape[-2] or size[1] > image.shape[-1]:
        raise ShapeError(describe(f"a size (H, W) <= the image's {tuple(image.shape[-2:])}", repr(size), fix))


def load_scene(name: str, *, max_side: int | None = None) -> torch.Tensor:
    """Load a scene's radiance, optionally area-downsampled so its longer side is <= ``max_side``.

    The lossy (DWAB) sources ``blender_*`` and ``pmndrs_*`` hold negative
    values (compression ringing; a broken sun in some ``pmndrs_*`` scenes):
    they are clamped to 0, and NaN/inf (none in the shipped files) set to 0.
    This is the only clamp in hdrlab. Full-resolution scenes are cached; each
    call returns a fresh tensor.

    Args:
        name: a name from :func:`list_scenes`.
        max_side: longest side in pixels after downsampling (>= 1), or None for
            full resolution. Never upsamples.

    Returns:
        ``(3, H, W)`` float32 linear radiance ``>= 0``.

    Raises:
        ChoiceError: unknown name.
        DTypeError, RangeError: ``max_side`` not a positive int.
        MissingFileError: the data folder or the scene's file is missing.
        FileFormatError: the file cannot be decoded.

    Example:
        >>> load_scene("room_windows", max_side=64).shape
        torch.Size([3, 42, 64])

    Taught in: notebooks/00_getting_started.ipynb
    """
    info = scene_info(name)
    radiance = _load_full(name, str(info.path))
    height, width = radiance.shape[-2:]
    if max_side is None or _check_count(max_side, "max_side") >= max(height, width):
        return radiance.clone()
    scale = max_side / max(height, width)
    return resize_area(radiance, (max(1, round(height * scale)), max(1, round(width * scale))))


def _area_weights(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """``(n_out, n_in)`` matrix: output pixel i averages the input pixels its footprint covers."""
    edges = torch.arange(n_out + 1, dtype=torch.float64) * (n_in / n_out)
    pixels = torch.arange(n_in, dtype=torch.float64)
    overlap = torch.minimum(edges[1:, None], pixels + 1) - torch.maximum(edges[:-1, None], pixels)
    return (overlap.clamp_min(0) * (n_out / n_in)).to(dtype=like.dtype, device=like.device)


def resize_area(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Downsample by exact area averaging, which preserves mean radiance.

    Each output pixel is the mean of the input area it covers, with fractional
    weights at its edges (like OpenCV's ``INTER_AREA``), so any size ratio keeps
    the image mean. Peaks drop: a 1-pixel sun spreads over its output pixel.

    Args:
        image: ``(*, 3, H, W)`` float image (radiance or LDR).
        size: target ``(h, w)`` with ``1 <= h <= H`` and ``1 <= w <= W``.

    Returns:
        ``(*, 3, h, w)`` tensor, same dtype and device (differentiable), each channel of each image within
        its input's [min, max]: each output is a weighted mean, and the float rounding that could leave that
        range (an all-white LDR gave 1 + 1.2e-7) is clamped away, so a downsampled LDR stays a valid LDR.

    Raises:
        DTypeError, ShapeError, RangeError: invalid image (see :func:`hdrlab.validate.check_image`)
            or size; ShapeError also for a size larger than the image (upsampling).

    Example:
        >>> x = torch.arange(6.0).view(1, 1, 6).expand(3, 2, 6)
        >>> resize_area(x, (1, 3))[0].tolist()
        [[0.5, 2.5, 4.5]]
        >>> odd = resize_area(x, (1, 4))  # 1.5 input pixels per output pixel
        >>> [round(v, 3) for v in odd[0, 0].tolist()], float(odd.mean())  # the mean is kept
        ([0.333, 1.667, 3.333, 4.667], 2.5)

    Taught in: notebooks/00_getting_started.ipynb
    """
    check_image(image)
    size = _check_size(size)
    _check_fits(image, size, "resize_area only downsamples: crop instead, or use torch.nn.functional.interpolate.")
    rows = _area_weights(image.shape[-2], size[0], image)
    cols = _area_weights(image.shape[-1], size[1], image)
    out = rows @ image @ cols.T
    flat = image.detach()
    low, high = flat.amin(dim=(-2, -1), keepdim=True), flat.amax(dim=(-2, -1), keepdim=True)
    return out + (out.detach().clamp(low, high) - out.detach())  # values fixed for rounding; gradient of the average


def center_crop(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The central ``(h, w)`` window of an image (a view, not a copy).

    Args:
        image: ``(*, 3, H, W)`` float image.
        size: ``(h, w)`` with ``h <= H`` and ``w <= W``.

    Returns:
        ``(*, 3, h, w)`` view of ``image``; the top-left corner is ``((H-h)//2, (W-w)//2)``.

    Raises:
        DTypeError, ShapeError, RangeError: invalid image or size; ShapeError also
            when the size is larger than the image.

    Example:
        >>> center_crop(torch.arange(16.0).view(1, 4, 4).expand(3, 4, 4), (2, 2))[0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]

    Taught in: notebooks/00_getting_started.ipynb
    """
    check_image(image)
    size = _check_size(size)
    _check_fits(image, size, "Pick a smaller crop, or resize_area the image first.")
    top, left = (image.shape[-2] - size[0]) // 2, (image.shape[-1] - size[1]) // 2
    return image[..., top : top + size[0], left : left + size[1]]


def random_crop(image: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random ``(h, w)`` window of an image (a view, not a copy).

    Args:
        image: ``(*, 3, H, W)`` float image.
        size: ``(h, w)`` with ``h <= H`` and ``w <= W``.
        generator: a ``torch.Generator`` for reproducible crops, or None (global RNG).

    Returns:
        ``(*, 3, h, w)`` view of ``image`` (the same window for every image of a batch).

    Raises:
        DTypeError, ShapeError, RangeError: invalid image, size or generator;
            ShapeError also when the size is larger than the image.

    Example:
        >>> x = torch.rand(3, 8, 8)
        >>> a = random_crop(x, (4, 4), torch.Generator().manual_seed(0))
        >>> b = random_crop(x, (4, 4), torch.Generator().manual_seed(0))
        >>> a.shape, bool(torch.equal(a, b))
        (torch.Size([3, 4, 4]), True)

    Taught in: notebooks/00_getting_started.ipynb
    """
    check_image(image)
    size = _check_size(size)
    _check_fits(image, size, "Pick a smaller crop, or resize_area the image first.")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise DTypeError(
            describe("a torch.Generator or None", type(generator).__name__, "Pass torch.Generator().manual_seed(0).")
        )
    top = int(torch.randint(image.shape[-2] - size[0] + 1, (1,), generator=generator))
    left = int(torch.randint(image.shape[-1] - size[1] + 1, (1,), generator=generator))
    return image[..., top : top + size[0], left : left + size[1]]


def _check_angle(value: object, name: str, low: float, high: float, closed: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"{name} as a number of degrees", type(value).__name__, f"Pass {name} as a float."))
    inside = low <= value <= high if closed else low < value < high
    if not inside:
        interval = f"[{low:g}, {high:g}]" if closed else f"({low:g}, {high:g})"
        raise RangeError(describe(f"{name} in {interval} degrees", repr(value), f"Pass {name} inside {interval}."))
    return float(value)


def _view_directions(
    size: tuple[int, int], fov_deg: float, yaw_deg: float, pitch_deg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Longitude and latitude (radians, ``(h, w)``) of each pinhole-camera pixel's ray."""
    height, width = size
    focal = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    down, right = torch.meshgrid(
        torch.arange(height, dtype=torch.float64) + 0.5 - height / 2,
        torch.arange(width, dtype=torch.float64) + 0.5 - width / 2,
        indexing="ij",
    )
    up, forward = -down, torch.full_like(right, focal)
    pitch, yaw = math.radians(pitch_deg), math.radians(yaw_deg)
    up, forward = up * math.cos(pitch) + forward * math.sin(pitch), forward * math.cos(pitch) - up * math.sin(pitch)
    right, forward = right * math.cos(yaw) + forward * math.sin(yaw), forward * math.cos(yaw) - right * math.sin(yaw)
    return torch.atan2(right, forward), torch.atan2(up, torch.hypot(right, forward))


def perspective_crop(
    panorama: torch.Tensor,
    size: tuple[int, int] = (128, 128),
    fov_deg: float = 90.0,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
) -> torch.Tensor:
    """Render a pinhole-camera view from an equirectangular panorama (bilinear, seamless wrap-around).

    Panorama layout: column centre ``u`` (0-based) looks at longitude
    ``((u + 0.5) / W - 0.5) * 360`` degrees (0 at the centre column, increasing
    to the right); row ``v`` at latitude ``(0.5 - (v + 0.5) / H) * 180`` (up at
    the top). The camera looks at ``(yaw_deg, pitch_deg)`` with an upright
    horizon; the crop looks like a photograph with that field of view.

    Args:
        panorama: ``(*, 3, H, 2H)`` float image (radiance or LDR).
        size: output ``(h, w)`` in pixels, any size (it is rendered, not cut).
        fov_deg: horizontal field of view in (0, 180) degrees.
        yaw_deg: longitude of the view centre in degrees (any value; +90 turns right).
        pitch_deg: latitude of the view centre in [-90, 90] degrees (+ looks up).

    Returns:
        ``(*, 3, h, w)`` tensor, same dtype; bilinear interpolation of ``>= 0``
        radiance stays ``>= 0``.

    Raises:
        DTypeError, RangeError: invalid image, or an angle that is not a number or out of range.
        ShapeError: invalid size, or a panorama whose width is not twice its
            height (use :func:`center_crop` / :func:`random_crop` for photos).

    Example:
        >>> longitude = torch.linspace(-180, 180, 65)[:-1] + 360 / 128
        >>> pano = longitude.abs().view(1, 1, 64).expand(3, 32, 64)  # |longitude| in degrees
        >>> round(float(perspective_crop(pano, (5, 5), yaw_deg=90.0)[0, 2, 2]))
        90

    Taught in: notebooks/00_getting_started.ipynb
    """
    check_image(panorama, "panorama")
    height, width = panorama.shape[-2:]
    if width != 2 * height:
        raise ShapeError(
            describe(
                "an equirectangular panorama with width = 2 x height",
                f"shape {tuple(panorama.shape)}",
                "Check scene_info(name).kind == 'panorama'; crop photographs with center_crop or random_crop.",
            )
        )
    size = _check_size(size)
    fov_deg = _check_angle(fov_deg, "fov_deg", 0.0, 180.0, closed=False)
    yaw_deg = _check_angle(yaw_deg, "yaw_deg", -math.inf, math.inf, closed=False)
    pitch_deg = _check_angle(pitch_deg, "pitch_deg", -90.0, 90.0, closed=True)
    longitude, latitude = _view_directions(size, fov_deg, yaw_deg, pitch_deg)
    column = (longitude / (2 * math.pi) + 0.5) * width - 0.5  # in [-0.5, W - 0.5]
    row = (0.5 - latitude / math.pi) * height - 0.5
    # One wrapped column on each side makes bilinear sampling continuous across longitude +-180.
    padded = torch.cat([panorama[..., -1:], panorama, panorama[..., :1]], dim=-1).reshape(-1, 3, height, width + 2)
    grid = torch.stack([(2 * column + 3) / (width + 2) - 1, (2 * row + 1) / height - 1], dim=-1)
    grid = grid.to(panorama.dtype).to(panorama.device).expand(padded.shape[0], -1, -1, -1)
    view = F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return view.reshape(*panorama.shape[:-2], *size)


def _check_fractions(fractions: object) -> tuple[float, float, float]:
    if (
        not isinstance(fractions, (tuple, list))
        or len(fractions) != 3
        or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in fractions)
    ):
        raise DTypeError(
            describe("fractions as 3 numbers (train, val, test)", repr(fractions), "Pass e.g. (0.7, 0.15, 0.15).")
        )
    if min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise RangeError(
            describe("3 fractions >= 0 that sum to 1", repr(fractions), "Pass e.g. (0.7, 0.15, 0.15).")
        )
    return float(fractions[0]), float(fractions[1]), float(fractions[2])


def split_scenes(seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> dict[str, list[str]]:
    """Split the scenes into train/val/test, deterministically, keeping duplicate locations together.

    Scenes of one ``duplicate_group`` form one unit; units are shuffled with
    ``random.Random(seed)`` and dealt in order until each split reaches
    ``round(cumulative fraction * 27)`` scenes (a pair may overshoot by one).
    Split by scene, never by crop, so no test location is seen in training.

    Args:
        seed: a non-negative integer; the same seed always gives the same split.
        fractions: (train, val, test) fractions, each >= 0, summing to 1.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each sorted; every
        scene appears exactly once.

    Raises:
        ChoiceError: ``seed`` not a non-negative int.
        DTypeError, RangeError: invalid fractions, or a positive fraction too
            small to receive a scene.

    Example:
        >>> split = split_scenes(seed=0)
        >>> [len(split[key]) for key in SPLITS]
        [19, 4, 4]

    Taught in: notebooks/00_getting_started.ipynb
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ChoiceError(describe("a non-negative integer seed", repr(seed), "Pass e.g. seed=0."))
    fractions = _check_fractions(fractions)
    groups: dict[str, list[str]] = {}
    for name, info in sorted(_SCENES.items()):
        groups.setdefault(info.duplicate_group or name, []).append(name)
    units = sorted(groups.values())
    random.Random(seed).shuffle(units)
    bounds = (round(fractions[0] * len(_SCENES)), round((fractions[0] + fractions[1]) * len(_SCENES)))
    split: dict[str, list[str]] = {key: [] for key in SPLITS}
    dealt = 0
    for unit in units:
        key = SPLITS[0] if dealt < bounds[0] else SPLITS[1] if dealt < bounds[1] else SPLITS[2]
        split[key].extend(unit)
        dealt += len(unit)
    for key, fraction in zip(SPLITS, fractions):
        if fraction > 0 and not split[key]:
            raise RangeError(
                describe(
                    f"at least one scene in {key!r} (fraction {fraction:g})",
                    f"none of the {len(_SCENES)} scenes",
                    "Raise that fraction (each scene is 1/27 of the data) or set it to 0.",
                )
            )
    return {key: sorted(names) for key, names in split.items()}


def _check_percentiles(low: object, high: object) -> None:
    numbers = all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in (low, high))
    if not numbers or not 0 <= low < high <= 100:
        raise RangeError(
            describe("percentiles with 0 <= low < high <= 100", f"{low!r}, {high!r}", "Use e.g. 0.1 and 99.9.")
        )


def dynamic_range_stops(radiance: torch.Tensor, low_percentile: float = 0.1, high_percentile: float = 99.9) -> float:
    """Dynamic range in stops: ``log2(p_high / p_low)`` of Rec. 709 luminance.

    Percentiles instead of max/min make the number robust to a few hot or
    noisy pixels. Zero-luminance pixels are ignored for the low percentile
    (log of 0 is undefined); all pixels count for the high one. Measure at the
    resolution you use: area downsampling lowers peaks.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``; a batch is pooled.
        low_percentile: in [0, 100), below ``high_percentile``.
        high_percentile: in (0, 100].

    Returns:
        Stops (a Python float, ``>= 0``).

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance (see :func:`hdrlab.validate.check_radiance`).
        RangeError: bad percentiles, no pixel with positive luminance, or so
            few that the high percentile falls below the low one.

    Example:
        >>> x = torch.ones(3, 2, 2)
        >>> x[:, 0] = 1024.0
        >>> dynamic_range_stops(x, 0.0, 100.0)
        10.0

    Taught in: notebooks/00_getting_started.ipynb
    """
    check_radiance(radiance)
    _check_percentiles(low_percentile, high_percentile)
    values = luminance(radiance).detach().cpu().double().flatten().numpy()
    positive = values[values > 0]
    if positive.size == 0:
        raise RangeError(
            describe("some pixels with luminance > 0", "an all-black image", "Check the image's scale or exposure.")
        )
    high = float(np.percentile(values, high_percentile))
    low = float(np.percentile(positive, low_percentile))
    if high < low:
        raise RangeError(
            describe(
                f"the {high_percentile:g}th percentile of luminance >= the {low_percentile:g}th of positive pixels",
                f"{high:.4g} < {low:.4g} (almost all pixels are black)",
                "Lower high_percentile or measure a crop with more lit pixels.",
            )
        )
    return math.log2(high / low)
