"""Torch datasets the chapters train on, simulated from the embedded scenes with the camera model.

Every item is a random square crop of one embedded radiance map (see
:mod:`hdrlab.data.scenes`), photographed by :func:`hdrlab.imaging.camera.expose`
through one response curve drawn from ``crfs``. Five datasets share one base:

- :class:`SceneCrops`: the HDR crop alone (``hdr``, ``scene``, ``crf``);
- :class:`LDRHDRPairs`: one LDR shot and its linear HDR target (single-image LDR -> HDR);
- :class:`ExposurePairs`: two exposures of one crop and their times (multi-exposure generation);
- :class:`BracketStacks`: a full bracket, e.g. DrTMO's 9 exposures in half stops;
- :class:`MetaTasks`: one meta-learning task per item (support exposures with HDR labels, a held-out query).

:class:`StackPairs` draws exposure pairs from any dataset of stacks (the real
DrTMO brackets of :mod:`hdrlab.data.public`, or :class:`BracketStacks`).

Radiance scale (every dataset follows it): scene radiance has arbitrary
units, so each item measures a reference time ``t_ref`` on its crop
(:func:`~hdrlab.imaging.camera.auto_exposure`, 18 % grey: that shot is EV 0)
and returns ``hdr = radiance * t_ref``: linear, ``>= 0``, never clamped, in units
where the EV-0 shot saturates at 1. The LDR at EV ``e`` is
``expose(radiance, t_ref * 2**e, crf)`` (``= expose(hdr, 2**e, crf)``) and its
time is ``t_ref * 2**e``, in *relative* seconds (the scene's units are arbitrary).
:class:`LDRHDRPairs` is the one exception: its target is the shot's own
unclipped sensor exposure ``radiance * t`` (so ``ldr = f(clip(hdr))``), the
natural target of single-image LDR -> HDR. :class:`BracketStacks` and
:func:`simulate_drtmo_stack` can report DrTMO's absolute times instead
(``unit="s"``: EV 0 is put at :data:`DRTMO_T_REF` = 2^-8 s, DrTMO's middle shot).

Determinism: item ``i`` is a function of ``(seed, i)`` only. Each
``__getitem__`` makes its own ``torch.Generator`` (:func:`item_generator`) and
never touches the global RNG, so exact resume and multi-worker loading give the
same items. ``augment=True`` (training): random crop, random flips and 90-degree
rotations. ``augment=False`` (validation/test): crops on a fixed grid of tiles
covering each scene, no flips or rotations; the response curve, the exposures
and the noise are still drawn from the item's generator, so they are
reproducible too. Scenes are visited in turn: item ``i`` uses scene
``i % len(scenes)``.

Example:
    >>> pairs = LDRHDRPairs(["pmndrs_sky"], size=32, max_side=128, samples=4)
    >>> item = pairs[0]
    >>> item["ldr"].shape, item["scene"], bool(item["hdr"].min() >= 0)
    (torch.Size([3, 32, 32]), 'pmndrs_sky', True)
    >>> bool(torch.equal(pairs[0]["ldr"], item["ldr"]))  # item 0 is always the same
    True

References:
    Endo, Kanamori & Mitani, "Deep reverse tone mapping", SIGGRAPH Asia 2017
    (DrTMO: 9 exposures in half-stop steps through DoRF response curves).
    Pan et al., "MetaHDR: model-agnostic meta-learning for HDR image
    reconstruction", 2021. Le et al., "Single-image HDR reconstruction by
    multi-exposure generation", WACV 2023.

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from hdrlab.data.scenes import SPLITS, load_scene, random_crop, split_scenes
from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError, describe
from hdrlab.imaging.camera import NoiseModel, auto_exposure, expose, simulate_brackets
from hdrlab.imaging.crf import ResponseCurve, check_bit_depth, get_response_curve
from hdrlab.validate import as_float_tensor, check_int, check_nonnegative, check_positive

__all__ = [
    "DEFAULT_CRFS",
    "DRTMO_EVS",
    "DRTMO_TIMES",
    "DRTMO_T_REF",
    "SPLIT_SEED",
    "BracketStacks",
    "ExposurePairs",
    "LDRHDRPairs",
    "MetaTasks",
    "SceneCrops",
    "StackPairs",
    "item_generator",
    "simulate_drtmo_stack",
]

#: DrTMO's 9 exposures in EVs relative to the well-exposed shot: -2 ... +2 in half stops.
DRTMO_EVS: tuple[float, ...] = tuple(step / 2 for step in range(-4, 5))
#: DrTMO's middle exposure time (its ``e.png``), 2^-8 s: the time of EV 0 with ``unit="s"``.
DRTMO_T_REF = 2.0**-8
#: DrTMO's 9 exposure times in seconds, 2^-10 ... 2^-6 in half stops (``a.png`` ... ``i.png``).
DRTMO_TIMES: tuple[float, ...] = tuple(2.0 ** (ev - 8) for ev in DRTMO_EVS)
#: Response curves drawn by default: sRGB, a display gamma, two films and a digital knee.
DEFAULT_CRFS = ("srgb", "film-soft", "film-reversal", "digital-knee", "gamma2.2")
#: Seed of :func:`hdrlab.data.scenes.split_scenes` behind ``scenes="train" | "val" | "test"``.
SPLIT_SEED = 0
_UNITS = ("ev", "s")


def _check_optional_int(value: object, name: str, minimum: int) -> int | None:
    return None if value is None else check_int(value, name, minimum)


def _check_exposures(values: object, name: str, *, ascending: bool) -> tuple[float, ...]:
    """A non-empty 1-D sequence of finite, distinct EVs (strictly ascending when ``ascending``)."""
    tensor = as_float_tensor(values, name)  # type: ignore[arg-type]
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise ShapeError(describe(f"{name} as a non-empty 1-D sequence", f"shape {tuple(tensor.shape)}",
                                  "Pass e.g. (-2.0, 0.0, 2.0)."))
    if not torch.isfinite(tensor).all():
        raise ExposureError(describe(f"finite {name}", str(tensor.tolist()), "EVs are finite numbers of stops."))
    ordered = tensor.diff() > 0 if ascending else tensor.sort().values.diff() > 0
    if not ordered.all():
        wanted = "strictly ascending" if ascending else "distinct"
        raise ExposureError(describe(f"{wanted} {name}", str(tensor.tolist()),
                                     "List each exposure once, shortest first, e.g. (-2.0, 0.0, 2.0)."))
    return tuple(tensor.tolist())


def item_generator(seed: int, index: int) -> torch.Generator:
    """The private random generator of item ``index`` of a dataset seeded with ``seed``.

    Mixes ``(seed, index)`` with NumPy's ``SeedSequence`` so that neighbouring
    indices and seeds get independent streams; nothing global is touched.

    Args:
        seed: dataset seed, an int ``>= 0``.
        index: item index, an int ``>= 0``.

    Returns:
        A CPU ``torch.Generator``, freshly seeded.

    Raises:
        DTypeError, RangeError: a negative or non-integer seed or index.

    Example:
        >>> a = torch.rand(2, generator=item_generator(0, 7))
        >>> b = torch.rand(2, generator=item_generator(0, 7))
        >>> bool(torch.equal(a, b)), bool(torch.equal(a, torch.rand(2, generator=item_generator(0, 8))))
        (True, False)

    Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb
    """
    words = np.random.SeedSequence([check_int(seed, "seed", 0), check_int(index, "index", 0)]).generate_state(2)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


def _check_position(index: object, length: int, fix: str) -> int:
    """A dataset index by Python's sequence rules, returned in ``[0, length)``.

    Raises DTypeError for a non-integer, and a plain ``IndexError`` (what the
    sequence protocol needs, so ``for item in dataset`` stops) out of range.
    """
    if isinstance(index, bool):
        raise DTypeError(describe("an integer index", repr(index), "Index with an int, e.g. dataset[0]."))
    try:
        position = operator.index(index)  # type: ignore[arg-type]
    except TypeError as err:
        raise DTypeError(describe("an integer index", repr(index), "Index with an int, e.g. dataset[0].")) from err
    if not -length <= position < length:
        raise IndexError(describe(f"an index in [-{length}, {length})", str(position), fix))
    return position % length


def _choice(n: int, generator: torch.Generator) -> int:
    """A uniform draw from ``range(n)``."""
    return int(torch.randint(n, (1,), generator=generator))


def simulate_drtmo_stack(
    radiance: torch.Tensor,
    crf: str | ResponseCurve = "srgb",
    *,
    unit: str = "ev",
    t_ref: float | None = None,
    bits: int | None = 8,
    noise: NoiseModel | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A DrTMO bracket: 9 shots from EV -2 to +2 in half stops around the well-exposed shot.

    The images are ``expose(radiance, t_ref * 2**ev, crf)`` for ev in
    :data:`DRTMO_EVS`. ``unit`` only changes the times reported: ``"ev"`` gives
    the actual times ``t_ref * 2**ev`` (relative seconds in the radiance's
    units); ``"s"`` gives DrTMO's absolute :data:`DRTMO_TIMES` (2^-10 ... 2^-6 s),
    i.e. the radiance is read as scaled so that EV 0 falls at DrTMO's middle
    shot, 2^-8 s. The stacks are identical for both units.

    Args:
        radiance: ``(3, H, W)`` or ``(B, 3, H, W)`` linear radiance ``>= 0``.
        crf: response-curve name or :class:`~hdrlab.imaging.crf.ResponseCurve`.
        unit: ``"ev"`` or ``"s"`` (see above).
        t_ref: EV-0 time in the radiance's units (> 0); None: auto exposure per image.
        bits: 8, 10, 12, 14, 16 or None (continuous).
        noise: a :class:`~hdrlab.imaging.camera.NoiseModel` or None.
        generator: ``torch.Generator`` for the noise.

    Returns:
        ``(stack, times)``: ``(9, 3, H, W)`` and ``(9,)``, or ``(B, 9, 3, H, W)``
        and ``(B, 9)``; shortest exposure first.

    Raises:
        ChoiceError: unknown ``unit``, curve or bit depth.
        DTypeError, RangeError: invalid radiance or ``t_ref``.
        ShapeError: radiance not 3-D/4-D.

    Example:
        >>> stack, times = simulate_drtmo_stack(torch.full((3, 4, 4), 0.5), unit="s")
        >>> stack.shape, [round(t * 1024, 4) for t in times[::2].tolist()]  # 2^-10 s ... 2^-6 s
        (torch.Size([9, 3, 4, 4]), [1.0, 2.0, 4.0, 8.0, 16.0])

    References:
        Endo, Kanamori & Mitani, "Deep reverse tone mapping", SIGGRAPH Asia 2017.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    if unit not in _UNITS:
        raise ChoiceError(describe(f"unit in {_UNITS}", repr(unit), "Use 'ev' (relative times) or 's' (DrTMO's)."))
    if t_ref is not None:
        check_positive(t_ref, "t_ref")
    stack, times = simulate_brackets(radiance, DRTMO_EVS, crf, unit="ev", t_ref=t_ref, bits=bits, noise=noise,
                                     generator=generator)
    if unit == "s":
        times = torch.tensor(DRTMO_TIMES, dtype=times.dtype, device=times.device).expand_as(times)
    return stack, times


@dataclass(frozen=True)
class _Crop:
    """One drawn sample: which scene, which curve, and its HDR crop in EV-0 units."""

    scene: str
    crf: str
    hdr: torch.Tensor  # radiance * t_ref, (3, S, S)
    t_ref: float


def _resolve_scenes(scenes: object) -> list[str]:
    """Scene names of a split, or a validated explicit list."""
    if isinstance(scenes, str):
        if scenes not in SPLITS:
            raise ChoiceError(describe(f"scenes as one of {SPLITS} or a list of scene names", repr(scenes),
                                       f"Pass a split, or a list such as [{scenes!r}] for one scene."))
        return split_scenes(seed=SPLIT_SEED)[scenes]
    if not isinstance(scenes, (list, tuple)) or not scenes or not all(isinstance(name, str) for name in scenes):
        raise ChoiceError(describe("scenes as a split name or a non-empty list of scene names", repr(scenes),
                                   "Pass e.g. 'train' or ['pmndrs_sky', 'room_windows'] (see scenes.list_scenes())."))
    return list(scenes)


def _tile_origin(height: int, width: int, size: int, tile: int) -> tuple[int, int]:
    """Top-left corner of tile ``tile`` (raster order, cycling) of a grid of size x size tiles covering the image."""
    rows, cols = math.ceil(height / size), math.ceil(width / size)
    row, col = divmod(tile % (rows * cols), cols)
    top = round(row * (height - size) / (rows - 1)) if rows > 1 else (height - size) // 2
    left = round(col * (width - size) / (cols - 1)) if cols > 1 else (width - size) // 2
    return top, left


def _random_dihedral(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, vertical flip and rotation by a multiple of 90 degrees."""
    flips = [dim for dim, draw in zip((-1, -2), torch.rand(2, generator=generator).tolist()) if draw < 0.5]
    if flips:
        image = image.flip(flips)
    return torch.rot90(image, _choice(4, generator), dims=(-2, -1))


class SceneCrops(Dataset):
    """Square HDR crops of the embedded scenes, each with a response curve: the base of every simulated dataset.

    See the module docstring for the radiance scale (``hdr = radiance * t_ref``,
    EV 0 = auto exposure of the crop), determinism and augmentation.

    Args:
        scenes: ``"train"``, ``"val"`` or ``"test"`` (from
            ``scenes.split_scenes(seed=SPLIT_SEED)``, 19/4/4 scenes; same-location
            scenes always share a split), or a list of scene names.
        size: side of the square crops in pixels (>= 1).
        max_side: scenes are area-downsampled so their longer side is <= this
            (None: full resolution), once per instance, then cached.
        samples: virtual epoch length (``len``); each index is a different crop (>= 1).
        crfs: response curves (names or :class:`~hdrlab.imaging.crf.ResponseCurve`) drawn uniformly per item.
        bits: quantisation of the LDR shots (8, 10, 12, 14, 16 or None).
        noise: a :class:`~hdrlab.imaging.camera.NoiseModel` for the shots, or None.
        augment: random crops, flips and 90-degree rotations (True), or fixed tiles (False).
        seed: an int ``>= 0``; item ``i`` depends on ``(seed, i)`` only.

    Attributes:
        scenes: the scene names used, in order (item ``i`` uses ``scenes[i % len(scenes)]``).
        crfs: the curve names.

    Returns (per item):
        dict with ``hdr`` ``(3, S, S)`` float32 (radiance * t_ref), ``scene`` (str), ``crf`` (str).

    Raises:
        ChoiceError: unknown split, scene name or curve; unsupported bit depth.
        DTypeError, RangeError: a non-integer or too small ``size``, ``max_side``,
            ``samples`` or ``seed``; ``noise`` not a NoiseModel.
        ShapeError: a scene smaller than ``size`` after downsampling to ``max_side``.
        IndexError: an index outside ``[-len, len)`` (the sequence protocol).

    Example:
        >>> crops = SceneCrops("val", size=16, max_side=64, samples=3)
        >>> len(crops), crops.scenes[:2], crops[0]["hdr"].shape
        (3, ['pmndrs_bridge', 'pmndrs_lab'], torch.Size([3, 16, 16]))

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(
        self,
        scenes: str | Sequence[str] = "train",
        *,
        size: int = 128,
        max_side: int | None = 512,
        samples: int = 1024,
        crfs: Sequence[str | ResponseCurve] = DEFAULT_CRFS,
        bits: int | None = 8,
        noise: NoiseModel | None = None,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        self.size = check_int(size, "size", 1)
        self.max_side = _check_optional_int(max_side, "max_side", 1)
        self.samples = check_int(samples, "samples", 1)
        self.seed = check_int(seed, "seed", 0)
        self.scenes = _resolve_scenes(scenes)
        self._curves = self._check_curves(crfs)
        self.crfs = [curve.name for curve in self._curves]
        if bits is not None:
            check_bit_depth(bits)
        self.bits = bits
        if noise is not None and not isinstance(noise, NoiseModel):
            raise DTypeError(describe("noise as a NoiseModel or None", type(noise).__name__,
                                      "Pass e.g. hdrlab.imaging.camera.NoiseModel.high_iso()."))
        self.noise = noise
        if not isinstance(augment, bool):
            raise DTypeError(describe("augment as a bool", repr(augment), "Pass augment=True or False."))
        self.augment = augment
        self._radiance = {name: self._load(name) for name in self.scenes}

    @staticmethod
    def _check_curves(crfs: object) -> list[ResponseCurve]:
        if isinstance(crfs, (str, ResponseCurve)) or not isinstance(crfs, (list, tuple)) or not crfs:
            raise ChoiceError(describe("crfs as a non-empty tuple of response-curve names", repr(crfs),
                                       "Pass e.g. crfs=('srgb',) or a subset of RESPONSE_CURVES."))
        return [get_response_curve(crf) for crf in crfs]

    def _load(self, name: str) -> torch.Tensor:
        radiance = load_scene(name, max_side=self.max_side)
        if min(radiance.shape[-2:]) < self.size:
            raise ShapeError(describe(
                f"scenes at least {self.size} x {self.size} pixels after max_side={self.max_side}",
                f"{name!r} of size {tuple(radiance.shape[-2:])}",
                f"Lower size to <= {min(radiance.shape[-2:])}, or raise max_side (None keeps full resolution).",
            ))
        return radiance

    def __len__(self) -> int:
        return self.samples

    def _draw(self, index: object) -> tuple[_Crop, torch.Generator]:
        """Scene, crop, augmentation and curve of item ``index``, and its generator for further draws."""
        position = _check_position(index, self.samples, "Raise samples= for a longer virtual epoch.")
        generator = item_generator(self.seed, position)
        visit, scene_index = divmod(position, len(self.scenes))
        name = self.scenes[scene_index]
        radiance = self._radiance[name]
        if self.augment:
            crop = _random_dihedral(random_crop(radiance, (self.size, self.size), generator), generator)
        else:
            top, left = _tile_origin(*radiance.shape[-2:], self.size, visit)
            crop = radiance[:, top : top + self.size, left : left + self.size]
        t_ref = float(auto_exposure(crop))
        curve = self._curves[_choice(len(self._curves), generator)]
        return _Crop(name, curve.name, (crop * t_ref).contiguous(), t_ref), generator

    def _shoot(self, hdr: torch.Tensor, relative_time: float, crf: str, generator: torch.Generator) -> torch.Tensor:
        """The LDR shot of an EV-0-scaled HDR crop at ``relative_time = 2**ev``."""
        return expose(hdr, relative_time, crf, bits=self.bits, noise=self.noise, generator=generator)

    def __getitem__(self, index: int) -> dict:
        crop, _ = self._draw(index)
        return {"hdr": crop.hdr, "scene": crop.scene, "crf": crop.crf}


def _scalar(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float32)


class LDRHDRPairs(SceneCrops):
    """One LDR shot of a crop and its linear HDR target, for single-image LDR -> HDR.

    The target is the shot's own unclipped sensor exposure: ``hdr = radiance * t``
    with ``t = t_ref * 2**ev`` the shot's time, so ``ldr = f(clip(hdr))``
    (quantised, plus noise if any). Values of ``hdr`` above 1 are what the shot
    clipped. This differs from the other datasets (``radiance * t_ref``) on
    purpose: a single image carries no other exposure reference.

    Args:
        scenes, size, max_side, samples, crfs, bits, noise, augment, seed: see :class:`SceneCrops`.
        evs: exposures to draw from uniformly (finite, distinct EVs relative to auto exposure).

    Returns (per item):
        dict with ``ldr`` ``(3, S, S)`` in [0, 1], ``hdr`` ``(3, S, S)`` ``>= 0``,
        ``time`` (0-d tensor, relative seconds), ``ev`` (0-d tensor), ``scene``, ``crf``.

    Raises:
        See :class:`SceneCrops`; ExposureError, ShapeError, DTypeError: invalid ``evs``.

    Example:
        >>> pairs = LDRHDRPairs(["room_windows"], size=16, max_side=64, samples=2, crfs=("linear",), bits=None)
        >>> item = pairs[1]
        >>> bool(torch.allclose(item["ldr"], item["hdr"].clamp(0, 1)))  # linear curve: ldr = clip(hdr)
        True

    Taught in: notebooks/02_metahdr.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(self, scenes: str | Sequence[str] = "train", *, evs: Sequence[float] = (0.0,), **kwargs) -> None:
        self.evs = _check_exposures(evs, "evs", ascending=False)
        super().__init__(scenes, **kwargs)

    def __getitem__(self, index: int) -> dict:
        crop, generator = self._draw(index)
        ev = self.evs[_choice(len(self.evs), generator)]
        hdr = crop.hdr * 2.0**ev
        ldr = self._shoot(hdr, 1.0, crop.crf, generator)
        return {"ldr": ldr, "hdr": hdr, "time": _scalar(crop.t_ref * 2.0**ev), "ev": _scalar(ev),
                "scene": crop.scene, "crf": crop.crf}


class ExposurePairs(SceneCrops):
    """Two distinct exposures of one crop through the same curve, with their times (weak supervision).

    The pair ``(ev_a, ev_b)`` is drawn uniformly among ordered pairs with
    ``min_gap <= |ev_a - ev_b| <= max_gap``, so both directions (brighter and
    darker target) occur equally often; each shot gets its own noise.

    Args:
        scenes, size, max_side, samples, crfs, bits, noise, augment, seed: see :class:`SceneCrops`.
        evs: the exposures to pair (finite, distinct EVs); default :data:`DRTMO_EVS`.
        min_gap: smallest allowed EV difference (>= 0).
        max_gap: largest allowed EV difference (>= min_gap), or None for no limit.

    Returns (per item):
        dict with ``ldr_a``, ``ldr_b`` ``(3, S, S)`` in [0, 1], ``time_a``, ``time_b``,
        ``ev_a``, ``ev_b`` (0-d tensors), ``hdr`` ``(3, S, S)`` = radiance * t_ref, ``scene``, ``crf``.

    Raises:
        See :class:`SceneCrops`; ExposureError: invalid ``evs``; RangeError:
        invalid gaps, or no pair of ``evs`` within them.

    Example:
        >>> pairs = ExposurePairs(["pmndrs_sky"], size=16, max_side=64, samples=2, min_gap=2.0)
        >>> item = pairs[0]
        >>> gap = float(item["ev_b"] - item["ev_a"])
        >>> abs(gap) >= 2.0, bool(torch.isclose(item["time_b"] / item["time_a"], torch.tensor(2.0**gap)))
        (True, True)

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(
        self,
        scenes: str | Sequence[str] = "train",
        *,
        evs: Sequence[float] = DRTMO_EVS,
        min_gap: float = 0.5,
        max_gap: float | None = None,
        **kwargs,
    ) -> None:
        self.evs = _check_exposures(evs, "evs", ascending=False)
        self.min_gap = check_nonnegative(min_gap, "min_gap")
        self.max_gap = math.inf if max_gap is None else check_nonnegative(max_gap, "max_gap")
        if self.max_gap < self.min_gap:
            raise RangeError(describe("max_gap >= min_gap", f"max_gap={max_gap!r} < min_gap={min_gap!r}",
                                      "Raise max_gap, or pass max_gap=None for no upper limit."))
        self.pairs = [(a, b) for a in self.evs for b in self.evs
                      if a != b and self.min_gap <= abs(a - b) <= self.max_gap]
        if not self.pairs:
            raise RangeError(describe(f"at least one pair of evs {list(self.evs)} with a gap in "
                                      f"[{self.min_gap:g}, {self.max_gap:g}] stops", "none",
                                      "Widen the gap limits or add exposures."))
        super().__init__(scenes, **kwargs)

    def __getitem__(self, index: int) -> dict:
        crop, generator = self._draw(index)
        ev_a, ev_b = self.pairs[_choice(len(self.pairs), generator)]
        ldr_a = self._shoot(crop.hdr, 2.0**ev_a, crop.crf, generator)
        ldr_b = self._shoot(crop.hdr, 2.0**ev_b, crop.crf, generator)
        return {"ldr_a": ldr_a, "ldr_b": ldr_b, "time_a": _scalar(crop.t_ref * 2.0**ev_a),
                "time_b": _scalar(crop.t_ref * 2.0**ev_b), "ev_a": _scalar(ev_a), "ev_b": _scalar(ev_b),
                "hdr": crop.hdr, "scene": crop.scene, "crf": crop.crf}


class BracketStacks(SceneCrops):
    """A full exposure bracket of a crop (DrTMO's 9 half-stop shots by default) and its HDR.

    Times: ``unit="ev"`` gives ``t_ref * 2**ev`` (relative seconds, the crop's
    auto exposure is EV 0); ``unit="s"`` gives DrTMO-like absolute times
    ``DRTMO_T_REF * 2**ev`` (EV 0 at 2^-8 s; :data:`DRTMO_TIMES` for the default
    EVs). The images are the same for both units, and
    ``merge(stack, times) * t`` approximates ``hdr``, with ``t = t_ref`` or
    :data:`DRTMO_T_REF` respectively.

    Args:
        scenes, size, max_side, samples, crfs, bits, noise, augment, seed: see :class:`SceneCrops`.
        evs: strictly ascending EVs (shortest first); default :data:`DRTMO_EVS`.
        unit: ``"ev"`` or ``"s"`` (the times reported, see above).

    Returns (per item):
        dict with ``stack`` ``(N, 3, S, S)`` in [0, 1], ``times`` ``(N,)`` ascending,
        ``evs`` ``(N,)``, ``hdr`` ``(3, S, S)`` = radiance * t_ref, ``scene``, ``crf``.

    Raises:
        See :class:`SceneCrops`; ExposureError: ``evs`` not strictly ascending or
        not finite; ChoiceError: unknown ``unit``.

    Example:
        >>> brackets = BracketStacks(["pmndrs_sky"], size=16, max_side=64, samples=1, unit="s")
        >>> item = brackets[0]
        >>> item["stack"].shape, round(float(item["times"][0]) * 1024, 4)  # a.png: 2^-10 s
        (torch.Size([9, 3, 16, 16]), 1.0)

    References:
        Endo, Kanamori & Mitani, "Deep reverse tone mapping", SIGGRAPH Asia 2017.

    Taught in: notebooks/03_multi_exposure_generation.ipynb, notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(
        self,
        scenes: str | Sequence[str] = "train",
        *,
        evs: Sequence[float] = DRTMO_EVS,
        unit: str = "ev",
        **kwargs,
    ) -> None:
        self.evs = _check_exposures(evs, "evs", ascending=True)
        if unit not in _UNITS:
            raise ChoiceError(describe(f"unit in {_UNITS}", repr(unit),
                                       "Use 'ev' (relative times) or 's' (DrTMO's absolute seconds)."))
        self.unit = unit
        super().__init__(scenes, **kwargs)

    def __getitem__(self, index: int) -> dict:
        crop, generator = self._draw(index)
        stack, relative = simulate_brackets(crop.hdr, self.evs, crop.crf, unit="ev", t_ref=1.0, bits=self.bits,
                                            noise=self.noise, generator=generator)
        evs = torch.tensor(self.evs, dtype=torch.float32)
        times = torch.exp2(evs - 8.0) if self.unit == "s" else relative * crop.t_ref
        return {"stack": stack, "times": times, "evs": evs, "hdr": crop.hdr, "scene": crop.scene, "crf": crop.crf}


class MetaTasks(SceneCrops):
    """One meta-learning task per item: a crop and a curve, support exposures with HDR labels, a held-out query.

    Each task holds out one exposure as the query: drawn uniformly per task when
    ``augment=True``, else always the middle one, ``evs[len(evs) // 2]``. The
    support is ``support`` of the other exposures: a random subset when
    ``augment=True``, else the ones nearest the query (ties: the darker one),
    in ascending EV order. Every exposure's HDR label is the scene HDR
    ``radiance * t_ref`` (one HDR per scene, as in the Jang et al. pairs);
    MetaHDR normalises it.

    Args:
        scenes, size, max_side, samples, crfs, bits, noise, augment, seed: see :class:`SceneCrops`.
        evs: strictly ascending EVs of the task's exposures (at least 2).
        support: number of support exposures, in ``[1, len(evs) - 1]``.

    Returns (per item):
        dict with ``support_ldr`` ``(K, 3, S, S)``, ``support_hdr`` ``(K, 3, S, S)``,
        ``support_ev`` ``(K,)``, ``query_ldr`` ``(1, 3, S, S)``, ``query_hdr``
        ``(1, 3, S, S)``, ``query_ev`` ``(1,)``, ``scene``, ``crf`` (``K = support``).

    Raises:
        See :class:`SceneCrops`; ExposureError: invalid ``evs``; DTypeError,
        RangeError: ``support`` not an int in ``[1, len(evs) - 1]``.

    Example:
        >>> tasks = MetaTasks(["pmndrs_sky"], size=16, max_side=64, samples=2, augment=False)
        >>> task = tasks[0]
        >>> task["support_ev"].tolist(), task["query_ev"].tolist(), task["support_ldr"].shape
        ([-2.0, 2.0], [0.0], torch.Size([2, 3, 16, 16]))

    References:
        Pan et al., "MetaHDR: model-agnostic meta-learning for HDR image reconstruction", 2021.

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(
        self,
        scenes: str | Sequence[str] = "train",
        *,
        evs: Sequence[float] = (-2.0, 0.0, 2.0),
        support: int = 2,
        **kwargs,
    ) -> None:
        self.evs = _check_exposures(evs, "evs", ascending=True)
        if len(self.evs) < 2:
            raise ExposureError(describe("at least 2 evs (support and query)", str(list(self.evs)),
                                         "Pass e.g. evs=(-2.0, 0.0, 2.0)."))
        self.support = check_int(support, "support", 1)
        if support > len(self.evs) - 1:
            raise RangeError(describe(f"support <= len(evs) - 1 = {len(self.evs) - 1}", repr(support),
                                      "One exposure is the query; lower support or add exposures."))
        super().__init__(scenes, **kwargs)

    def _split(self, generator: torch.Generator) -> tuple[list[int], int]:
        """Indices of the support exposures (ascending) and of the query exposure."""
        count = len(self.evs)
        query = _choice(count, generator) if self.augment else count // 2
        others = [i for i in range(count) if i != query]
        if self.augment:
            chosen = [others[i] for i in torch.randperm(len(others), generator=generator)[: self.support].tolist()]
        else:
            chosen = sorted(others, key=lambda i: (abs(self.evs[i] - self.evs[query]), i))[: self.support]
        return sorted(chosen), query

    def __getitem__(self, index: int) -> dict:
        crop, generator = self._draw(index)
        support, query = self._split(generator)
        shots = {i: self._shoot(crop.hdr, 2.0 ** self.evs[i], crop.crf, generator) for i in [*support, query]}
        return {
            "support_ldr": torch.stack([shots[i] for i in support]),
            "support_hdr": crop.hdr.unsqueeze(0).repeat(len(support), 1, 1, 1),
            "support_ev": torch.tensor([self.evs[i] for i in support], dtype=torch.float32),
            "query_ldr": shots[query].unsqueeze(0),
            "query_hdr": crop.hdr.unsqueeze(0).clone(),
            "query_ev": torch.tensor([self.evs[query]], dtype=torch.float32),
            "scene": crop.scene,
            "crf": crop.crf,
        }


class StackPairs(Dataset):
    """Exposure pairs drawn from the stacks of another dataset, e.g. the real DrTMO brackets.

    Item ``i`` reads stack ``i % len(stacks)`` and draws, from the generator of
    ``(seed, i)``, one ordered pair of its exposures with ``min_gap <= |EV gap| <= max_gap``
    (EVs rounded to 1e-6 stops, so half-stop gaps are exactly 0.5), a ``size`` crop
    (random with ``augment``, else central) and, with ``augment``, one flip/rotation,
    the same for both images. Every visit of a stack thus gets a new crop. The items
    have the keys of :class:`ExposurePairs` that need no HDR, so the same training
    step reads both.

    Args:
        stacks: a dataset whose items hold ``stack`` ``(N, 3, H, W)`` in [0, 1] and
            ``times`` ``(N,)`` ascending seconds, e.g. :class:`hdrlab.data.public.DrTMOBrackets`
            (whole images: let ``size`` crop) or :class:`BracketStacks`.
        size: side of the square crops (None: whole images).
        samples: virtual epoch length (None: ``len(stacks)``).
        min_gap: smallest EV gap (>= 0; pairs of equal times are never drawn).
        max_gap: largest EV gap, or None for no limit.
        augment: random flips and 90-degree rotations.
        seed: an int ``>= 0``.

    Returns (per item):
        dict with ``ldr_a``, ``ldr_b`` ``(3, H, W)``, ``time_a``, ``time_b``, ``ev_a``, ``ev_b``
        (0-d tensors; EVs relative to the stack's middle exposure) and ``scene``.

    Raises:
        RangeError: invalid gaps, or a stack without a pair within them.
        DTypeError: a non-integer ``size``, ``samples`` or ``seed``.
        ShapeError: a stack smaller than ``size``.

    Example:
        >>> stacks = BracketStacks(["pmndrs_sky"], size=32, max_side=64, samples=2)
        >>> item = StackPairs(stacks, size=16, min_gap=1.0)[0]
        >>> abs(float(item["ev_b"] - item["ev_a"])) >= 1.0, item["ldr_a"].shape
        (True, torch.Size([3, 16, 16]))

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(self, stacks: Dataset, *, size: int | None = None, samples: int | None = None,
                 min_gap: float = 0.5, max_gap: float | None = None, augment: bool = True, seed: int = 0) -> None:
        self.stacks = stacks
        self.size = _check_optional_int(size, "size", 1)
        self.samples = len(stacks) if samples is None else check_int(samples, "samples", 1)
        self.min_gap = check_nonnegative(min_gap, "min_gap")
        self.max_gap = math.inf if max_gap is None else check_nonnegative(max_gap, "max_gap")
        if self.max_gap < self.min_gap:
            raise RangeError(describe("max_gap >= min_gap", f"max_gap={max_gap!r} < min_gap={min_gap!r}",
                                      "Raise max_gap, or pass max_gap=None for no upper limit."))
        self.augment = bool(augment)
        self.seed = check_int(seed, "seed", 0)

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> dict:
        position = _check_position(index, self.samples, "Raise samples= for a longer virtual epoch.")
        item = self.stacks[position % len(self.stacks)]
        times = item["times"]
        evs = torch.log2(times.double() / float(times[len(times) // 2])).mul(1e6).round().div(1e6)
        pairs = [(a, b) for a in range(len(times)) for b in range(len(times))
                 if a != b and self.min_gap <= abs(float(evs[a] - evs[b])) <= self.max_gap]
        if not pairs:
            raise RangeError(describe(f"a pair of exposures {evs.tolist()} with a gap in "
                                      f"[{self.min_gap:g}, {self.max_gap:g}] stops", "none",
                                      "Widen the gap limits."))
        generator = item_generator(self.seed, position)
        a, b = pairs[_choice(len(pairs), generator)]
        images = self._crop(item["stack"][[a, b]], generator)
        if self.augment:
            images = _random_dihedral(images, generator)
        return {"ldr_a": images[0].contiguous(), "ldr_b": images[1].contiguous(), "time_a": times[a].float(),
                "time_b": times[b].float(), "ev_a": evs[a].float(), "ev_b": evs[b].float(),
                "scene": item.get("scene", "")}

    def _crop(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The item's ``size`` window of ``(2, 3, H, W)`` images: random with ``augment``, else central."""
        if self.size is None:
            return images
        height, width = images.shape[-2:]
        if min(height, width) < self.size:
            raise ShapeError(describe(f"stacks of at least {self.size} x {self.size} pixels",
                                      f"size {(height, width)}", f"Lower size to <= {min(height, width)}."))
        if self.augment:
            return random_crop(images, (self.size, self.size), generator)
        top, left = (height - self.size) // 2, (width - self.size) // 2
        return images[..., top : top + self.size, left : left + self.size]
