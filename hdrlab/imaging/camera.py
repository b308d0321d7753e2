"""Image formation: from scene radiance to the LDR pixels a camera writes.

The model, step by step, in the order the physics happens::

    x = E * t                                   linear sensor signal, 1 = full well
    x = x + n,   n ~ N(0, shot * x + read**2)   optional noise (Poisson-Gaussian)
    x = clip(x, 0, 1)                           full well above, black level below
    y = f(x)                                    response curve (hdrlab.imaging.crf)
    I = round(y * (2**bits - 1)) / (2**bits - 1)  quantisation (bits=None: none)

Noise enters in the linear sensor domain, before the clip and the response
curve, because that is where it arises: shot noise is photon counting at the
photosite and read noise comes from the readout electronics, both before the
camera's nonlinear processing. So its variance grows with the signal, saturated
pixels are noise free (the well is full), and the curve reshapes it (sRGB
amplifies shadow noise, compresses highlight noise). Adding noise after ``f``
instead would give every tone the same noise and leave noisy "clipped"
highlights, which no real camera produces.

Conventions (DESIGN §2): radiance ``(*, 3, H, W)`` linear, ``>= 0``, float32;
LDR in [0, 1]; exposure times in seconds; ``EV = log2(t / t_ref)``.

Example:
    >>> import torch
    >>> radiance = torch.full((3, 2, 2), 0.5)
    >>> round(expose(radiance, 0.36, crf="linear").flatten()[0].item() * 255)  # 18 % of full well
    46
    >>> stack, times = simulate_brackets(radiance, [-2.0, 0.0, 2.0], unit="ev")  # auto exposure: EV 0 = 0.36 s
    >>> stack.shape, [round(t, 4) for t in times.tolist()]
    (torch.Size([3, 3, 2, 2]), [0.09, 0.36, 1.44])

References:
    Debevec & Malik, "Recovering high dynamic range radiance maps from
    photographs", SIGGRAPH 1997. Grossberg & Nayar, "What is the space of camera
    response functions?", CVPR 2003 (DoRF). Foi, Trimeche, Katkovnik &
    Egiazarian, "Practical Poissonian-Gaussian noise modeling and fitting for
    single-image raw-data", IEEE TIP 2008. Endo, Kanamori & Mitani, "Deep
    reverse tone mapping", SIGGRAPH Asia 2017 (DrTMO).

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError, describe
from hdrlab.imaging.crf import ResponseCurve, check_bit_depth, get_response_curve
from hdrlab.imaging.tonemap import log_average_luminance
from hdrlab.validate import (
    as_float_tensor,
    check_exposure_times,
    check_generator,
    check_ldr,
    check_positive,
    check_radiance,
    check_tensor,
)

__all__ = [
    "ClippedFraction",
    "NoiseModel",
    "auto_exposure",
    "clipped_fraction",
    "ev_to_time",
    "expose",
    "linearize",
    "quantize",
    "simulate_brackets",
    "time_to_ev",
]

Number = int | float


def _check_exposure_values(value: object, name: str, *, positive: bool) -> None:
    """Check a float or float tensor of EVs (finite) or times (finite and > 0)."""
    if isinstance(value, torch.Tensor):
        check_tensor(value, name)
        values = value.detach()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        values = torch.tensor(float(value))
    else:
        raise DTypeError(describe(f"{name} as a float or a float tensor", type(value).__name__, f"Pass {name} as e.g. 0.5."))
    ok = torch.isfinite(values) & (values > 0) if positive else torch.isfinite(values)
    if not ok.all():
        fix = (
            "Exposure times are durations in seconds; convert EVs with ev_to_time(ev, t_ref)."
            if positive else "EVs are finite numbers of stops relative to t_ref."
        )
        raise ExposureError(describe(f"finite {name}{' > 0' if positive else ''}", str(values.flatten()[:8].tolist()), fix))


def ev_to_time(ev: Number | torch.Tensor, t_ref: Number | torch.Tensor = 1.0) -> Number | torch.Tensor:
    """Exposure time of an exposure value: ``t = t_ref * 2**ev``.

    Args:
        ev: EV(s), float or tensor of any shape; finite.
        t_ref: the time of EV 0 in seconds (> 0), float or tensor broadcastable with ``ev``.

    Returns:
        Time(s) in seconds: a float for float inputs, else a tensor.

    Raises:
        ExposureError: NaN/inf EV, or ``t_ref <= 0``.
        DTypeError: neither a number nor a float tensor.

    Example:
        >>> ev_to_time(-1.0, t_ref=0.01)
        0.005
        >>> ev_to_time(torch.tensor([-2.0, 0.0, 2.0])).tolist()
        [0.25, 1.0, 4.0]
    """
    _check_exposure_values(ev, "EV", positive=False)
    _check_exposure_values(t_ref, "t_ref", positive=True)
    return t_ref * 2.0**ev


def time_to_ev(time: Number | torch.Tensor, t_ref: Number | torch.Tensor = 1.0) -> Number | torch.Tensor:
    """Exposure value of an exposure time: ``EV = log2(time / t_ref)``.

    Args:
        time: time(s) in seconds (> 0), float or tensor of any shape.
        t_ref: the time of EV 0 in seconds (> 0), float or tensor broadcastable with ``time``.

    Returns:
        EV(s): a float for float inputs, else a tensor.

    Raises:
        ExposureError: non-positive or non-finite times.
        DTypeError: neither a number nor a float tensor.

    Example:
        >>> time_to_ev(0.04, t_ref=0.01)
        2.0
    """
    _check_exposure_values(time, "exposure time", positive=True)
    _check_exposure_values(t_ref, "t_ref", positive=True)
    ratio = time / t_ref
    return torch.log2(ratio) if isinstance(ratio, torch.Tensor) else math.log2(ratio)


def auto_exposure(radiance: torch.Tensor, key: float = 0.18) -> torch.Tensor:
    """The exposure time that maps each image's log-average luminance to ``key`` of full well.

    With ``t_ref = auto_exposure(radiance)``, EV 0 is a "well exposed" shot
    (the classic photographic 18 % grey), the reference the DrTMO brackets use.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``, not all black.
        key: target sensor value of the log-average luminance, in (0, 1].

    Returns:
        ``(*,)`` exposure times in seconds (a 0-d tensor for one image).

    Raises:
        ShapeError, DTypeError, RangeError: invalid radiance (see :func:`hdrlab.validate.check_radiance`).
        RangeError: ``key`` outside (0, 1], or an all-black image.

    Example:
        >>> round(float(auto_exposure(torch.full((3, 4, 4), 2.0))), 4)
        0.09
    """
    check_radiance(radiance)
    if isinstance(key, bool) or not isinstance(key, (int, float)) or not 0 < key <= 1:
        raise RangeError(describe("key in (0, 1]", repr(key), "Use 0.18 (middle grey) for average scenes."))
    mean = log_average_luminance(radiance).reshape(radiance.shape[:-3])
    if (mean <= 0).any():
        raise RangeError(
            describe("a radiance map with some light", "an all-black image", "Pass exposure times in seconds instead.")
        )
    return key / mean


@dataclass(frozen=True)
class NoiseModel:
    """Poisson-Gaussian sensor noise, in units of full well: variance ``shot * x + read**2``.

    Shot noise (photon counting) has a variance proportional to the signal
    ``x``; read noise is signal independent. The Gaussian approximation with this
    heteroscedastic variance is the model of Foi et al. (2008).

    Args:
        shot: shot-noise gain, ``1 / full_well_electrons`` at base ISO; ``>= 0``.
        read: read-noise standard deviation in units of full well; ``>= 0``.

    Raises:
        DTypeError: a parameter is not a number.
        RangeError: a parameter is negative or not finite.

    Example:
        >>> NoiseModel.from_electrons(full_well=10_000, read_electrons=5)
        NoiseModel(shot=0.0001, read=0.0005)
        >>> NoiseModel.high_iso().variance(torch.tensor(0.0)).item() > 0
        True
    """

    shot: float
    read: float

    def __post_init__(self) -> None:
        for name in ("shot", "read"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DTypeError(describe(f"noise {name} as a float", type(value).__name__, "Pass e.g. 1e-4."))
            if not 0 <= value < math.inf:
                raise RangeError(describe(f"noise {name} >= 0 and finite", repr(value), "Use 0.0 to switch it off."))

    @classmethod
    def from_electrons(cls, full_well: float, read_electrons: float) -> NoiseModel:
        """Noise of a sensor whose full well holds ``full_well`` electrons, with ``read_electrons`` of read noise."""
        check_positive(full_well, "full_well")
        return cls(shot=1 / full_well, read=read_electrons / full_well)

    @classmethod
    def low_iso(cls) -> NoiseModel:
        """Base ISO of a typical large-pixel sensor: 20 000 e- full well, 4 e- read noise."""
        return cls.from_electrons(20_000, 4)

    @classmethod
    def high_iso(cls) -> NoiseModel:
        """The same sensor at ISO 3200 (gain 32): 625 e- fill the range, 2 e- read noise."""
        return cls.from_electrons(625, 2)

    def variance(self, x: torch.Tensor) -> torch.Tensor:
        """Noise variance ``shot * x + read**2`` at linear sensor values ``x >= 0``."""
        return self.shot * x + self.read**2


def _sample_noise(x: torch.Tensor, noise: object, generator: object) -> torch.Tensor:
    """One noise draw for sensor signal ``x``; drawn on the generator's device, then moved."""
    if not isinstance(noise, NoiseModel):
        raise DTypeError(describe("noise as a NoiseModel or None", type(noise).__name__, "Use e.g. NoiseModel.high_iso()."))
    device = x.device if generator is None else generator.device
    z = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    return noise.variance(x.detach()).sqrt() * z  # noise is a constant for gradients (no d sqrt at 0)


def quantize(x: torch.Tensor, bits: int | None = 8) -> torch.Tensor:
    """Round values to the ``2**bits`` codes ``k / (2**bits - 1)``, as the camera's ADC/encoder does.

    Args:
        x: ``(*, 3, H, W)`` values in [0, 1].
        bits: one of 8, 10, 12, 14, 16, or None for continuous values (returns ``x``).

    Returns:
        Quantised values in [0, 1], same shape and dtype (gradient zero almost
        everywhere: use ``bits=None`` to differentiate through a camera).

    Raises:
        ChoiceError: unsupported bit depth.
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_ldr`.

    Example:
        >>> code = quantize(torch.full((3, 1, 1), 0.5), bits=8).flatten()[0].item() * 255
        >>> round(code, 4)
        128.0
    """
    check_ldr(x, "values to quantise")
    if bits is None:
        return x
    check_bit_depth(bits)
    levels = 2**bits - 1
    return torch.round(x * levels) / levels


def _time_tensor(time: object, radiance: torch.Tensor) -> torch.Tensor:
    """Validated exposure time(s) shaped ``(*T, 1, 1, 1)`` to multiply radiance with."""
    _check_exposure_values(time, "exposure time", positive=True)
    t = torch.as_tensor(time, dtype=radiance.dtype, device=radiance.device)
    try:
        torch.broadcast_shapes(t.shape, radiance.shape[:-3])
    except RuntimeError as err:
        raise ShapeError(
            describe(
                f"exposure times broadcastable to the leading dims {tuple(radiance.shape[:-3])} of the radiance",
                f"shape {tuple(t.shape)}",
                "Pass one float, or one time per image; for several times per image use simulate_brackets.",
            )
        ) from err
    return t.reshape(*t.shape, 1, 1, 1)


def expose(
    radiance: torch.Tensor,
    time: Number | torch.Tensor,
    crf: str | ResponseCurve = "srgb",
    *,
    bits: int | None = 8,
    noise: NoiseModel | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Take a photo: ``quantize(f(clip(E * t + noise, 0, 1)), bits)``.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0`` (unbounded), CPU or GPU.
        time: exposure time in seconds (> 0): a float, or a tensor broadcastable
            over the leading dims ``*`` (the output takes the broadcast shape).
        crf: a response-curve name (see :data:`hdrlab.imaging.crf.RESPONSE_CURVES`) or a ``ResponseCurve``.
        bits: 8, 10, 12, 14, 16, or None for continuous output.
        noise: a :class:`NoiseModel` added to the linear sensor signal, or None.
        generator: ``torch.Generator`` for reproducible noise (used only with ``noise``; checked always).

    Returns:
        ``(*, 3, H, W)`` LDR image in [0, 1], dtype of ``radiance``;
        differentiable w.r.t. radiance and time where ``bits=None``.

    Raises:
        ShapeError, DTypeError, RangeError: invalid radiance (negative, NaN, wrong shape).
        DTypeError: ``generator`` not a ``torch.Generator`` (also without ``noise``), ``noise`` not a NoiseModel.
        ExposureError: non-positive or non-finite time.
        ShapeError: time not broadcastable to the leading dims.
        ChoiceError: unknown curve name or bit depth.

    Example:
        >>> ldr = expose(torch.tensor([0.1, 1.0, 10.0]).view(3, 1, 1), 0.5)
        >>> (ldr.flatten() * 255).round().tolist()  # the 10.0 channel saturates
        [63.0, 188.0, 255.0]
    """
    check_radiance(radiance)
    check_generator(generator)
    curve = get_response_curve(crf)
    if bits is not None:
        check_bit_depth(bits)
    x = radiance * _time_tensor(time, radiance)
    if noise is not None:
        x = x + _sample_noise(x, noise, generator)
    return quantize(curve.forward(x.clamp(0, 1)), bits)


def linearize(ldr: torch.Tensor, crf: str | ResponseCurve) -> torch.Tensor:
    """Undo the response curve: the linear sensor value ``f^-1(I)`` of each pixel.

    Dividing by the exposure time recovers radiance wherever the pixel was
    neither clipped nor (much) quantised.

    Args:
        ldr: ``(*, 3, H, W)`` LDR image in [0, 1].
        crf: the response-curve name or ``ResponseCurve`` the image was made with.

    Returns:
        ``(*, 3, H, W)`` linear sensor values in [0, 1].

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_ldr`.
        ChoiceError: unknown curve name.

    Example:
        >>> radiance = torch.full((3, 2, 2), 0.3)
        >>> x = linearize(expose(radiance, 2.0, "rec709", bits=None), "rec709")
        >>> round(float(x[0, 0, 0] / 2.0), 6)
        0.3
    """
    check_ldr(ldr)
    return get_response_curve(crf).inverse(ldr)


def _bracket_times(radiance: torch.Tensor, values: torch.Tensor, unit: str, t_ref: object) -> torch.Tensor:
    """Exposure times in seconds from the exposures given in ``unit``."""
    if unit == "s":
        if t_ref is not None:
            raise ExposureError(
                describe("t_ref only with unit='ev'", f"t_ref={t_ref!r} with unit='s'",
                         "Seconds are absolute: drop t_ref, or pass EVs with unit='ev'.")
            )
        if (values <= 0).any():
            raise ExposureError(
                describe("exposure times in seconds (> 0)", str(values.tolist()),
                         "These look like EVs (stops): pass unit='ev' to expose relative to t_ref "
                         "(auto exposure by default), or convert with ev_to_time(ev, t_ref).")
            )
        return values
    if unit == "ev":
        reference = auto_exposure(radiance).unsqueeze(-1) if t_ref is None else t_ref
        return ev_to_time(values, reference)
    raise ChoiceError(describe("unit 's' (seconds) or 'ev' (stops relative to t_ref)", repr(unit), "Pick one of those."))


def simulate_brackets(
    radiance: torch.Tensor,
    exposures: Sequence[float] | torch.Tensor,
    crf: str | ResponseCurve = "srgb",
    *,
    unit: str = "s",
    t_ref: float | None = None,
    bits: int | None = 8,
    noise: NoiseModel | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate an exposure bracket (a stack of LDR shots) of one radiance map or a batch.

    Args:
        radiance: ``(3, H, W)`` or ``(B, 3, H, W)`` linear radiance ``>= 0``.
        exposures: ``N`` exposures, strictly ascending (shortest first): a
            sequence or an ``(N,)`` tensor, or ``(B, N)`` for per-image brackets.
        crf: response-curve name or ``ResponseCurve``.
        unit: ``"s"``: exposures are times in seconds; ``"ev"``: EVs relative to ``t_ref``.
        t_ref: EV-0 time in seconds for ``unit="ev"``; None: :func:`auto_exposure` per image.
        bits, noise, generator: as in :func:`expose`.

    Returns:
        ``(stack, times)``: ``(N, 3, H, W)`` and ``(N,)`` for one image,
        ``(B, N, 3, H, W)`` and ``(B, N)`` for a batch; times in seconds.

    Raises:
        ShapeError: radiance not 3-D/4-D, or exposures' shape does not fit it.
        ExposureError: exposures not strictly ascending, non-positive seconds
            (the message suggests ``unit="ev"``), or ``t_ref`` with ``unit="s"``.
        ChoiceError: unknown ``unit``, curve or bit depth.
        DTypeError, RangeError: invalid radiance.

    Example:
        >>> radiance = torch.rand(2, 3, 8, 8) * 4
        >>> stack, times = simulate_brackets(radiance, [-3.0, 0.0, 3.0], "film-soft", unit="ev")
        >>> stack.shape, times.shape
        (torch.Size([2, 3, 3, 8, 8]), torch.Size([2, 3]))
    """
    check_radiance(radiance)
    if radiance.dim() not in (3, 4):
        raise ShapeError(
            describe("radiance of shape (3, H, W) or (B, 3, H, W)", f"shape {tuple(radiance.shape)}",
                     "Flatten extra leading dims into the batch: radiance.flatten(0, -4).")
        )
    values = as_float_tensor(exposures, "exposures").to(device=radiance.device, dtype=radiance.dtype)
    times = _bracket_times(radiance, values, unit, t_ref)
    check_exposure_times(times)
    if times.dim() == 2 and (radiance.dim() == 3 or times.shape[0] != radiance.shape[0]):
        expected = "(N,)" if radiance.dim() == 3 else f"(N,) or ({radiance.shape[0]}, N)"
        raise ShapeError(
            describe(f"exposures of shape {expected} for radiance of shape {tuple(radiance.shape)}",
                     f"shape {tuple(times.shape)}",
                     "Give one shared (N,) bracket, or one row of exposures per image of the batch.")
        )
    if radiance.dim() == 4:
        times = times.expand(radiance.shape[0], -1)
    stack = expose(radiance.unsqueeze(-4), times, crf, bits=bits, noise=noise, generator=generator)
    return stack, times


class ClippedFraction(NamedTuple):
    """Fractions of clipped pixels per image, each ``(*,)`` in [0, 1]."""

    over: torch.Tensor  #: some channel at the top code (saturated)
    under: torch.Tensor  #: some channel at code 0 (black-clipped)


def clipped_fraction(ldr: torch.Tensor, bits: int | None = 8) -> ClippedFraction:
    """Fraction of pixels per image with a saturated channel, and with a black-clipped one.

    A channel is saturated at ``>= 1 - half a code`` (the top code) and
    black-clipped at ``<= half a code`` (code 0); with ``bits=None`` exactly at
    1 and 0. A pixel counts when any channel is clipped, as that value is lost.

    Args:
        ldr: ``(*, 3, H, W)`` LDR image(s) in [0, 1].
        bits: the bit depth the images were quantised to, or None if continuous.

    Returns:
        ``ClippedFraction(over, under)``, each ``(*,)``, dtype of ``ldr``.

    Raises:
        ChoiceError: unsupported bit depth.
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_ldr`.

    Example:
        >>> ldr = torch.tensor([[0.0, 0.5], [0.5, 1.0]]).expand(3, 2, 2)
        >>> over, under = clipped_fraction(ldr)
        >>> over.item(), under.item()
        (0.25, 0.25)
    """
    check_ldr(ldr)
    if bits is not None:
        check_bit_depth(bits)
    half_code = 0.0 if bits is None else 0.5 / (2**bits - 1)
    over = (ldr >= 1 - half_code).any(dim=-3).to(ldr.dtype).mean(dim=(-2, -1))
    under = (ldr <= half_code).any(dim=-3).to(ldr.dtype).mean(dim=(-2, -1))
    return ClippedFraction(over, under)
