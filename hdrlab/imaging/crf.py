"""Camera response curves: the map from sensor exposure to pixel value.

A camera response function (CRF) ``f`` turns the clipped linear sensor signal
``x = clip(E * t, 0, 1)`` (irradiance times exposure time, 1 = full well) into
a pixel value ``I = f(x)`` in [0, 1]. Every curve here is strictly increasing on
[0, 1] with ``f(0) = 0`` and ``f(1) = 1`` exactly (the parametric forms are built
so that both ends are exact in float32 and float64), elementwise, differentiable
and device agnostic.

Besides the textbook encodings (linear, gamma 2.2, sRGB, Rec. 709) there are
five film/digital curves in the spirit of the DoRF database of real responses
(Grossberg & Nayar) from which the DrTMO training brackets were simulated: a
log-like colour negative, a high-contrast reversal film, a soft low-contrast
film with a toe, a linear digital sensor with a highlight knee and an
ACES-like filmic curve. List them with ``RESPONSE_CURVES``; pick one by name
with :func:`get_response_curve`.

Recovering an unknown camera's response from an exposure stack: :func:`recover_debevec`
(Debevec & Malik's least squares with a smoothness prior, on sampled pixels, see
:func:`sample_pixels` and :func:`debevec_system`) and :func:`recover_robertson`
(Robertson, Borman & Stevenson's iterative estimator on all pixels). Both return the
log inverse response ``g``, a float32 ``(3, 2**bits)`` tensor: ``g[c, z] = ln(E * t)``
that produces code ``z = round(x * (2**bits - 1))`` in channel ``c``, anchored at
``g[:, 2**(bits-1)] = 0``; the radiance merge consumes it. :func:`log_inverse_response`
gives the true ``g`` of a known curve and :func:`response_error_stops` compares two.

Example:
    >>> import torch
    >>> curve = get_response_curve("film-negative")
    >>> x = torch.tensor([0.0, 0.18, 1.0])
    >>> [round(v, 3) for v in curve.forward(x).tolist()]
    [0.0, 0.604, 1.0]
    >>> bool(torch.allclose(curve.inverse(curve.forward(x)), x, atol=1e-6))
    True

References:
    Debevec & Malik, "Recovering high dynamic range radiance maps from
    photographs", SIGGRAPH 1997. Grossberg & Nayar, "What is the space of camera
    response functions?", CVPR 2003 (DoRF). Endo, Kanamori & Mitani, "Deep
    reverse tone mapping", SIGGRAPH Asia 2017 (DrTMO). ITU-R BT.709-6.
    Narkowicz, "ACES filmic tone mapping curve", 2016. Robertson, Borman &
    Stevenson, "Estimation-theoretic approach to dynamic range enhancement
    using multiple exposures", J. Electronic Imaging 12(2), 2003.

Taught in: notebooks/00_getting_started.ipynb, notebooks/01_camera_pipeline_debevec.ipynb
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch

from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError, describe
from hdrlab.imaging.tonemap import srgb_decode, srgb_encode
from hdrlab.validate import as_float_tensor, check_exposure_times, check_nonnegative, check_positive, check_tensor

__all__ = [
    "BIT_DEPTHS",
    "RESPONSE_CURVES",
    "SAMPLING_METHODS",
    "ResponseCurve",
    "check_bit_depth",
    "debevec_system",
    "get_response_curve",
    "log_inverse_response",
    "recover_debevec",
    "recover_robertson",
    "response_error_stops",
    "sample_pixels",
]

#: Bit depths a camera can quantise to (8-bit JPEG/PNG up to 16-bit raw/TIFF).
BIT_DEPTHS = (8, 10, 12, 14, 16)
_RESPONSE_PROBES = 1025  # points at which a ResponseCurve's fn is checked to rise from 0 to 1
_RESPONSE_ENDS = 1e-6  # how far f(0) and f(1) may be from 0 and 1
_BISECTION_STEPS = 26  # bracket 2**-26 ~ 1.5e-8, refined by a secant step (see _bisect)


def check_bit_depth(bits: object) -> None:
    """Raise :class:`ChoiceError` unless ``bits`` is one of :data:`BIT_DEPTHS`.

    Example:
        >>> check_bit_depth(12)
        >>> check_bit_depth(9)
        Traceback (most recent call last):
        ...
        hdrlab.errors.ChoiceError: Expected bits in (8, 10, 12, 14, 16), got 9. Pick the bit depth of the camera's output (8 for JPEG/PNG, 12-16 for raw).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in BIT_DEPTHS:
        raise ChoiceError(
            describe(f"bits in {BIT_DEPTHS}", repr(bits), "Pick the bit depth of the camera's output (8 for JPEG/PNG, 12-16 for raw).")
        )


def _check_unit_interval(x: object, name: str, fix: str) -> None:
    """Elementwise check of any-shaped float tensors: values in [0, 1], no NaN."""
    check_tensor(x, name)
    assert isinstance(x, torch.Tensor)
    bad = ~((x >= 0) & (x <= 1))  # NaN fails both comparisons
    if bad.any():
        raise RangeError(describe(f"{name} in [0, 1]", f"{int(bad.sum())} of {x.numel()} values outside [0, 1] or NaN", fix))


@dataclass(frozen=True)
class ResponseCurve:
    """A strictly increasing response ``f: [0, 1] -> [0, 1]`` with ``f(0) = 0``, ``f(1) = 1``.

    Args:
        name: registry key, e.g. ``"srgb"``.
        description: which real response it imitates and with which parameters.
        fn: elementwise torch function implementing ``f``; checked once, on 1025
            points: finite, strictly increasing, ``f(0) = 0`` and ``f(1) = 1``
            (within 1e-6).
        inverse_fn: closed-form elementwise ``f^-1``, or None to invert ``fn``
            by vectorised bisection in float64.

    Raises:
        DTypeError: an empty or non-string name or description; ``fn`` or
            ``inverse_fn`` not a function; ``fn`` failing on a tensor.
        RangeError: ``fn`` not finite, not strictly increasing, or not from 0 to 1.

    Example:
        >>> import torch
        >>> root = ResponseCurve("sqrt", "square root, a toy curve", fn=torch.sqrt)
        >>> round(float(root.inverse(torch.tensor(0.5))), 6)  # by bisection
        0.25
    """

    name: str
    description: str
    fn: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    inverse_fn: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Typed errors for a nameless curve, a function that is not one, or one that is not a response."""
        for value, label in ((self.name, "name"), (self.description, "description")):
            if not isinstance(value, str) or not value.strip():
                raise DTypeError(describe(f"a non-empty string {label} of the response curve", repr(value),
                                          'Pass e.g. ResponseCurve("mine", "what it imitates", fn=torch.sqrt).'))
        for value, label in ((self.fn, "fn"), (self.inverse_fn, "inverse_fn")):
            if not callable(value) and not (label == "inverse_fn" and value is None):
                raise DTypeError(describe(f"{label} as a function of a tensor", repr(value),
                                          "Pass an elementwise torch function, e.g. fn=torch.sqrt."))
        probe = torch.linspace(0, 1, _RESPONSE_PROBES, dtype=torch.float64)
        try:
            values = self.fn(probe)
        except Exception as err:  # a user's function: any failure means it is no response
            raise DTypeError(describe("fn to map a float64 tensor in [0, 1] to one of the same shape",
                                      f"{type(err).__name__}: {err}", "Use elementwise torch operations.")) from err
        if not isinstance(values, torch.Tensor) or values.shape != probe.shape or not torch.isfinite(values).all():
            raise RangeError(describe("fn to return finite values, one per input", repr(values)[:80],
                                      "Use elementwise torch operations defined on [0, 1]."))
        steps = values.diff()
        if abs(float(values[0])) > _RESPONSE_ENDS or abs(float(values[-1]) - 1) > _RESPONSE_ENDS or (steps <= 0).any():
            raise RangeError(describe("a strictly increasing fn with f(0) = 0 and f(1) = 1",
                                      f"f(0) = {float(values[0]):.4g}, f(1) = {float(values[-1]):.4g}, "
                                      f"{int((steps <= 0).sum())} non-increasing steps of {steps.numel()}",
                                      "A camera response maps no light to 0 and full well to 1, rising in between; "
                                      "normalise it: f(x) = (h(x) - h(0)) / (h(1) - h(0))."))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel value ``f(x)`` of a sensor exposure.

        Args:
            x: float tensor of any shape, linear sensor values in [0, 1]
                (1 = full well); CPU or GPU, any float dtype.

        Returns:
            Pixel values in [0, 1], same shape, dtype and device; differentiable.

        Raises:
            DTypeError: not a floating tensor.
            RangeError: values outside [0, 1] or NaN.

        Example:
            >>> get_response_curve("gamma2.2").forward(torch.tensor([0.0, 1.0])).tolist()
            [0.0, 1.0]
        """
        _check_unit_interval(
            x, f"sensor exposure for response curve {self.name!r}",
            "Normalise to full well and clip first: x = (E * t).clamp(0, 1), as hdrlab.imaging.camera.expose does.",
        )
        return self.fn(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Sensor exposure ``f^-1(y)`` of a pixel value (closed form, or float64 bisection to < 1e-8).

        Args:
            y: float tensor of any shape, pixel values in [0, 1].

        Returns:
            Linear sensor values in [0, 1], same shape, dtype and device;
            differentiable (the bisection path gets ``dx/dy = 1 / f'(x)``).

        Raises:
            DTypeError: not a floating tensor.
            RangeError: values outside [0, 1] or NaN.

        Example:
            >>> y = get_response_curve("aces-filmic").inverse(torch.tensor([0.0, 0.5, 1.0]))
            >>> [round(v, 4) for v in y.tolist()]
            [0.0, 0.1582, 1.0]
        """
        _check_unit_interval(
            y, f"pixel values for response curve {self.name!r}",
            "Scale 8-bit codes by 1/255 (16-bit by 1/65535) before inverting the response.",
        )
        if self.inverse_fn is not None:
            return self.inverse_fn(y)
        x = _bisect(self.fn, y)
        return _with_implicit_gradient(self.fn, x, y) if y.requires_grad else x

    def inverse_lut(self, bits: int = 8) -> torch.Tensor:
        """The linear sensor value of every code value, ``f^-1(k / (2**bits - 1))``.

        Args:
            bits: one of :data:`BIT_DEPTHS`.

        Returns:
            float32 CPU tensor ``(2**bits,)``, increasing from 0 to 1.

        Raises:
            ChoiceError: unsupported bit depth.

        Example:
            >>> lut = get_response_curve("srgb").inverse_lut(8)
            >>> lut.shape, round(float(lut[128]), 4)
            (torch.Size([256]), 0.2159)
        """
        check_bit_depth(bits)
        codes = torch.arange(2**bits, dtype=torch.float64) / (2**bits - 1)
        return self.inverse(codes).float()


def _bisect(fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """Solve ``fn(x) = y`` on [0, 1] for increasing ``fn``, elementwise, in float64.

    Bisection to a bracket of 2**-26 (~1.5e-8), then one secant step inside it:
    ~1e-15 where ``fn`` is smooth, < 1e-8 even where ``fn'`` is unbounded.
    Ends stay exact: ``y = 0`` gives 0 and ``y = 1`` gives 1.
    """
    target = y.detach().double()
    lo, hi = torch.zeros_like(target), torch.ones_like(target)
    f_lo, f_hi = fn(lo), fn(hi)
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        f_mid = fn(mid)
        above = f_mid > target
        lo, f_lo = torch.where(above, lo, mid), torch.where(above, f_lo, f_mid)
        hi, f_hi = torch.where(above, mid, hi), torch.where(above, f_mid, f_hi)
    fraction = ((target - f_lo) / (f_hi - f_lo)).nan_to_num(0.0)  # 0 / 0 only where f_lo = y = f_hi
    return (lo + (hi - lo) * fraction).to(y.dtype)


def _with_implicit_gradient(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return ``x`` (a root of ``fn(x) = y``) carrying ``dx/dy = 1 / fn'(x)`` (implicit function theorem)."""
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(fn(leaf).sum(), leaf)
    return x + (y - y.detach()) / slope.clamp_min(torch.finfo(slope.dtype).eps)


# --- building blocks: exact at both ends, finite gradients everywhere ---------------------------


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``x ** exponent`` for x in [0, 1], with a zero (not infinite/NaN) gradient at x = 0."""
    return torch.where(x > 0, x.clamp_min(torch.finfo(x.dtype).tiny) ** exponent, 0.0)


def _hyperbola(p: torch.Tensor, k: float) -> torch.Tensor:
    """Normalised Naka-Rushton hyperbola ``p / (p + k (1 - p))``; slope 1/k at 0, k at 1.

    Its inverse is ``_hyperbola(., 1 / k)``. Both ends are exact in floating point.
    """
    return p / (p + k * (1 - p))


def _image_op(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply an elementwise op that validates ``(*, 3, H, W)`` images to a tensor of any shape."""
    if x.numel() % 3 == 0:
        return op(x.reshape(-1, 3, 1, 1)).reshape(x.shape)
    return op(x.reshape(1, 1, -1).expand(3, 1, -1))[0].reshape(x.shape)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# --- Rec. 709 OETF --------------------------------------------------------------------------------

_REC709_ALPHA, _REC709_BETA = 1.09929682680944, 0.018053968510807  # exact C1 join of the two pieces


def _rec709_forward(x: torch.Tensor) -> torch.Tensor:
    curved = 1 + _REC709_ALPHA * (_power(x.clamp_min(_REC709_BETA), 0.45) - 1)  # written so f(1) = 1 exactly
    return torch.where(x < _REC709_BETA, 4.5 * x, curved)


def _rec709_inverse(y: torch.Tensor) -> torch.Tensor:
    curved = _power((y.clamp_min(4.5 * _REC709_BETA) - 1) / _REC709_ALPHA + 1, 1 / 0.45)
    return torch.where(y < 4.5 * _REC709_BETA, y / 4.5, curved)


# --- log-like colour negative ---------------------------------------------------------------------


def _log_forward(x: torch.Tensor, stops: int) -> torch.Tensor:
    return torch.log2(1 + (2**stops - 1) * x) / stops  # 1 + (2**stops - 1) = 2**stops: f(1) = 1 exactly


def _log_inverse(y: torch.Tensor, stops: int) -> torch.Tensor:
    return (torch.exp2(stops * y) - 1) / (2**stops - 1)


# --- film S-curves: a hyperbola in x**contrast (sigmoid in log exposure) --------------------------


def _film_k(contrast: float, mid_grey: float) -> float:
    """The hyperbola constant that maps 18 % of full well to ``mid_grey``."""
    p_mid = 0.18**contrast
    return p_mid * (1 / mid_grey - 1) / (1 - p_mid)


def _film_forward(x: torch.Tensor, contrast: float, k: float) -> torch.Tensor:
    return _hyperbola(_power(x, contrast), k)


def _film_inverse(y: torch.Tensor, contrast: float, k: float) -> torch.Tensor:
    return _power(_hyperbola(y, 1 / k), 1 / contrast)


# --- linear digital sensor with a highlight knee --------------------------------------------------

_KNEE_IN, _KNEE_OUT = 0.25, 0.75  # dyadic, so the shoulder's local coordinate reaches 1 exactly
_KNEE_K = (1 - _KNEE_OUT) * _KNEE_IN / (_KNEE_OUT * (1 - _KNEE_IN))  # slope-matched (C1) at the knee


def _knee_forward(x: torch.Tensor) -> torch.Tensor:
    u = ((x - _KNEE_IN) / (1 - _KNEE_IN)).clamp_min(0)
    shoulder = _KNEE_OUT + (1 - _KNEE_OUT) * _hyperbola(u, _KNEE_K)
    return torch.where(x <= _KNEE_IN, x * (_KNEE_OUT / _KNEE_IN), shoulder)


def _knee_inverse(y: torch.Tensor) -> torch.Tensor:
    v = ((y - _KNEE_OUT) / (1 - _KNEE_OUT)).clamp_min(0)
    shoulder = _KNEE_IN + (1 - _KNEE_IN) * _hyperbola(v, 1 / _KNEE_K)
    return torch.where(y <= _KNEE_OUT, y * (_KNEE_IN / _KNEE_OUT), shoulder)


# --- ACES-like filmic rational curve --------------------------------------------------------------


def _aces_coefficients(scale: float) -> tuple[float, float, float, float, float]:
    """Narkowicz's ACES fit ``v (a v + b) / (v (c v + d) + e)`` at ``v = scale * x``, normalised to f(1) = 1.

    Coefficients are rounded to multiples of 1/4096 and ``E`` is set to
    ``A + B - C - D``: every sum at x = 1 is then exact, so f(1) = 1 holds exactly.
    """
    a, b, c, d, e = 2.51, 0.03, 2.43, 0.59, 0.14
    white = scale * (a * scale + b) / (scale * (c * scale + d) + e)
    A, B, C, D = (round(v * 4096) / 4096 for v in (a * scale**2 / white, b * scale / white, c * scale**2, d * scale))
    return A, B, C, D, A + B - C - D


def _rational_forward(x: torch.Tensor, coefficients: tuple[float, float, float, float, float]) -> torch.Tensor:
    A, B, C, D, E = coefficients
    return (x * (A * x + B) / (x * (C * x + D) + E)).clamp(0, 1)  # clamp: rounding just below x = 1


# --- the registry ---------------------------------------------------------------------------------

_REVERSAL = {"contrast": 1.8, "mid_grey": 0.45}
_SOFT = {"contrast": 1.2, "mid_grey": 0.42}
_NEGATIVE_STOPS = 6
_ACES_SCALE = 2.0


def _film_curve(name: str, imitates: str, contrast: float, mid_grey: float) -> ResponseCurve:
    k = _film_k(contrast, mid_grey)
    return ResponseCurve(
        name,
        f"{imitates}: f = p / (p + k (1 - p)) with p = x**{contrast} (a sigmoid in log exposure, "
        f"D-log E gamma {contrast} in the shadows), k = {k:.4f} so that 18 % of full well maps to {mid_grey}.",
        fn=partial(_film_forward, contrast=contrast, k=k),
        inverse_fn=partial(_film_inverse, contrast=contrast, k=k),
    )


_CURVES = (
    ResponseCurve("linear", "Linear raw sensor data: f(x) = x.", fn=_identity, inverse_fn=_identity),
    ResponseCurve(
        "gamma2.2", "Pure power law f(x) = x**(1/2.2): the classic display gamma of PCs and many DoRF fits.",
        fn=partial(_power, exponent=1 / 2.2), inverse_fn=partial(_power, exponent=2.2),
    ),
    ResponseCurve(
        "srgb", "sRGB OETF (IEC 61966-2-1): linear slope 12.92 below 0.0031308, then 1.055 x**(1/2.4) - 0.055; "
        "what most consumer cameras approximately write to JPEG.",
        fn=partial(_image_op, srgb_encode), inverse_fn=partial(_image_op, srgb_decode),
    ),
    ResponseCurve(
        "rec709", "ITU-R BT.709 video camera OETF: 4.5 x below 0.018, then 1.099 x**0.45 - 0.099 "
        "(camcorders, broadcast and many video-mode digital cameras).",
        fn=_rec709_forward, inverse_fn=_rec709_inverse,
    ),
    ResponseCurve(
        "film-negative", f"Scanned colour negative film (Cineon-like log encoding: density proportional to log "
        f"exposure): f = log2(1 + a x) / {_NEGATIVE_STOPS} with a = 2**{_NEGATIVE_STOPS} - 1 = "
        f"{2**_NEGATIVE_STOPS - 1}; log-like, lifts shadows, very long highlight latitude.",
        fn=partial(_log_forward, stops=_NEGATIVE_STOPS), inverse_fn=partial(_log_inverse, stops=_NEGATIVE_STOPS),
    ),
    _film_curve("film-reversal", "High-contrast colour reversal (slide) film, Velvia-like, with a crushed toe and "
                "a firm shoulder", **_REVERSAL),
    _film_curve("film-soft", "Low-contrast soft film (portrait negative/print, Portra-like) with a gentle toe and "
                "a long soft shoulder", **_SOFT),
    ResponseCurve(
        "digital-knee", f"Linear digital/video sensor with a highlight knee circuit: gain {_KNEE_OUT / _KNEE_IN:g} "
        f"up to {_KNEE_IN:g} of full well ({_KNEE_OUT:g} output), then a hyperbolic shoulder "
        f"(k = {_KNEE_K:.4f}, slope-matched at the knee) compressing the top {1 - _KNEE_IN:g} of the sensor range "
        f"into the last {1 - _KNEE_OUT:g} of the codes.",
        fn=_knee_forward, inverse_fn=_knee_inverse,
    ),
    ResponseCurve(
        "aces-filmic", f"ACES-like filmic picture profile: Narkowicz's rational fit of the ACES tone scale, "
        f"v (2.51 v + 0.03) / (v (2.43 v + 0.59) + 0.14) at v = {_ACES_SCALE:g} x, normalised to f(1) = 1; dark toe, "
        "long highlight shoulder. Its inverse uses the generic float64 bisection.",
        fn=partial(_rational_forward, coefficients=_aces_coefficients(_ACES_SCALE)),
    ),
)

#: Every built-in response curve by name (see each curve's ``description``).
RESPONSE_CURVES: dict[str, ResponseCurve] = {curve.name: curve for curve in _CURVES}


def get_response_curve(name_or_curve: str | ResponseCurve) -> ResponseCurve:
    """Look up a response curve by name; a :class:`ResponseCurve` is returned unchanged.

    Args:
        name_or_curve: a key of :data:`RESPONSE_CURVES` or a :class:`ResponseCurve`.

    Returns:
        The :class:`ResponseCurve`.

    Raises:
        ChoiceError: unknown name (the message lists the known ones).
        DTypeError: neither a string nor a :class:`ResponseCurve`.

    Example:
        >>> get_response_curve("rec709").name
        'rec709'
        >>> get_response_curve("kodak")
        Traceback (most recent call last):
        ...
        hdrlab.errors.ChoiceError: Expected a response curve in ['linear', 'gamma2.2', 'srgb', 'rec709', 'film-negative', 'film-reversal', 'film-soft', 'digital-knee', 'aces-filmic'], got 'kodak'. Pick one of those, or pass your own ResponseCurve(name, description, fn).
    """
    if isinstance(name_or_curve, ResponseCurve):
        return name_or_curve
    if not isinstance(name_or_curve, str):
        raise DTypeError(
            describe("a curve name (str) or a ResponseCurve", type(name_or_curve).__name__, "Pass e.g. crf='srgb'.")
        )
    if name_or_curve not in RESPONSE_CURVES:
        raise ChoiceError(
            describe(
                f"a response curve in {list(RESPONSE_CURVES)}", repr(name_or_curve),
                "Pick one of those, or pass your own ResponseCurve(name, description, fn).",
            )
        )
    return RESPONSE_CURVES[name_or_curve]


# --- response recovery from an exposure stack (Debevec & Malik 1997; Robertson et al. 2003) --------
#
# Contract shared with merge.py: an inverse response ``g`` is a float32 (3, L) tensor, L = 2**bits,
# g[c, z] = ln(E * t) that produces code z in channel c, anchored at g[c, L // 2] = 0. Codes of an
# LDR stack in [0, 1] are z = round(x * (L - 1)).

#: Pixel sampling strategies of :func:`sample_pixels`.
SAMPLING_METHODS = ("stratified", "quantile")
_DEBEVEC_MAX_BITS = 12  # the reduced system is dense (3, L, L) float64: 400 MB at 12 bits
_SAMPLE_MARGIN = 4  # default samples: 4x Debevec's minimum P (N - 1) >= L (measured: a little better than 2x)


def _weight_lut64(kind: str, bits: int) -> torch.Tensor:
    """float64 weight per code for the data terms; the clipped codes 0 and L - 1 always get 0."""
    from hdrlab.imaging.weights import weight_lut  # here, not on top: weights imports this module

    weights = weight_lut(kind, bits).double()
    weights[[0, -1]] = 0.0  # a clipped value only bounds the exposure: it gives no equation
    return weights


# --- CPU work sharing that stays fast on a busy machine ------------------------------------------
#
# torch runs each CPU op as one OpenMP fork-join over its intra-op threads. When another process keeps
# the cores busy, a region waits for its slowest thread, and a thread that lost its core waits up to a
# scheduler time slice (several ms) even for a tiny op: the recover + merge path, ~100 such regions,
# became 3-5x slower (30x under heavy load) while every op slowed alike. Instead, the CPU work of the
# recovery and the merge runs on a private pool of worker threads, one per torch intra-op thread, each
# running torch single-threaded (no fork-join at all): big passes are cut into chunks the workers take
# as they come free (a descheduled worker delays one chunk, not every op), small serial steps run as
# one task. torch ops release the GIL, so the workers run in parallel.

_POOL_LOCK = threading.Lock()
_POOL: dict[str, Any] = {}  # key (pid, workers) -> executor, and the thread-local "inside a worker" flag
_IN_WORKER = threading.local()


def _mark_worker(barrier: threading.Barrier) -> None:
    """Pool initialiser: this thread runs torch single-threaded; waits until every worker is initialised."""
    torch.get_num_threads()  # torch sets a thread's count from the process default on its first use: do it now
    torch.set_num_threads(1)  # then this thread's OpenMP/MKL count (and, for a moment, the process default)
    _IN_WORKER.active = True
    barrier.wait()


def _worker_pool() -> ThreadPoolExecutor | None:
    """The process's pool of single-threaded torch workers (``torch.get_num_threads()`` of them).

    None when torch uses one thread, or when called from a worker (the work then runs inline).
    Re-created after a fork (threads do not survive it) and when the thread count changes.
    """
    workers = torch.get_num_threads()
    if workers == 1 or getattr(_IN_WORKER, "active", False):
        return None
    key = (os.getpid(), workers)
    with _POOL_LOCK:
        if _POOL.get("key") != key:
            barrier = threading.Barrier(workers)
            pool = ThreadPoolExecutor(workers, thread_name_prefix="hdrlab-cpu")
            for started in [pool.submit(_mark_worker, barrier) for _ in range(workers)]:
                started.result()  # the barrier makes each of them a distinct thread
            torch.set_num_threads(workers)  # the process default back (the workers keep 1: it is per thread)
            _POOL.update(key=key, pool=pool)
        return _POOL["pool"]


def _on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on one single-threaded worker (inline on a 1-thread torch or a worker)."""
    pool = _worker_pool()
    return fn(*args) if pool is None else pool.submit(fn, *args).result()


def _map_tasks(fn: Callable[..., Any], items: list[tuple[Any, ...]]) -> list[Any]:
    """``[fn(*item) for item in items]``, the items shared among the workers (taken as they come free)."""
    pool = _worker_pool()
    if pool is None or len(items) == 1:
        return [fn(*item) for item in items]
    return list(pool.map(lambda item: fn(*item), items))


def _map_chunks(fn: Callable[[int, int], Any], total: int, chunk: int) -> list[Any]:
    """``[fn(start, stop) for consecutive chunks of range(total)]``, the chunks shared among the workers."""
    return _map_tasks(fn, [(start, min(start + chunk, total)) for start in range(0, total, chunk)])


# --- stacks of floats or integer codes ------------------------------------------------------------

_CODE_DTYPES = (torch.uint8, torch.uint16)
_CHECK_CODES = 1 << 20  # values per chunk of the value check


def _stack_bits(stack: torch.Tensor, bits: object, float_default: int | None) -> int | None:
    """The bit depth of the stack's codes, with typed errors for impossible combinations.

    uint8: 8 (``bits`` None or 8); uint16: ``bits``, required (a 12-bit raw file is stored in
    uint16); float: ``bits``, or ``float_default`` when None; with ``float_default=None`` a float
    stack takes no ``bits`` and gets None.
    """
    if stack.is_floating_point():
        if float_default is None:
            if bits is not None:
                raise ChoiceError(describe("bits=None for a float stack", f"bits={bits!r}",
                                           "g's length (3, 2**bits) gives the codes of a float stack; bits "
                                           "describes integer stacks (uint16) only."))
            return None
        bits = float_default if bits is None else bits
        check_bit_depth(bits)
        return bits  # type: ignore[return-value]
    if stack.dtype not in _CODE_DTYPES:
        raise DTypeError(describe("an exposure stack of floats in [0, 1], uint8 codes or uint16 codes (with bits)",
                                  f"dtype {stack.dtype}", "Convert with stack.to(torch.uint16) (codes < 65536), "
                                  "or scale to floats: stack.float() / 255 (8-bit), stack.float() / 65535 (16-bit)."))
    if stack.dtype == torch.uint8:
        if bits not in (None, 8):
            raise ChoiceError(describe("bits=None or 8 for a uint8 stack", f"bits={bits!r}",
                                       "uint8 holds 8-bit codes; pass higher bit depths as uint16."))
        return 8
    if bits is None:
        raise ChoiceError(describe("bits (the codes' bit depth, e.g. 12 for 12-bit raw) for a uint16 stack",
                                   "bits=None", f"Pass bits= one of {BIT_DEPTHS}: uint16 is only the container."))
    check_bit_depth(bits)
    return bits  # type: ignore[return-value]


def _check_layout(stack: object) -> torch.Tensor:
    """DTypeError unless a tensor; ShapeError unless ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` with H, W >= 1."""
    if not isinstance(stack, torch.Tensor):
        raise DTypeError(describe("the exposure stack as a torch.Tensor", type(stack).__name__,
                                  "Convert with torch.from_numpy(array).permute(...) to (N, 3, H, W)."))
    if stack.dim() not in (4, 5) or stack.shape[-3] != 3 or stack.shape[-2] < 1 or stack.shape[-1] < 1:
        raise ShapeError(describe("an exposure stack of shape (N, 3, H, W) or (B, N, 3, H, W)",
                                  f"shape {tuple(stack.shape)}",
                                  "Stack RGB frames channels first along a new dim: torch.stack(frames)."))
    return stack


def _value_error(low: float, high: float, levels: int, integer: bool) -> RangeError:
    """The RangeError of a stack whose values (extremes ``low``, ``high``; NaN included) are out of range."""
    if integer:
        return RangeError(describe(f"codes <= {levels - 1} ({int(math.log2(levels))}-bit)", f"a code {int(high)}",
                                   "Pass the bit depth the data has (bits=16 for full-range uint16)."))
    return RangeError(describe("exposure stack values in [0, 1]", f"values in [{low:.4g}, {high:.4g}] (NaN included)",
                               "Pass 8-bit codes as uint8 (or scale them by 1/255; 16-bit: uint16 with bits, or "
                               "1/65535), and tone map HDR data before treating it as LDR."))


def _chunk_extremes(values: torch.Tensor, levels: int) -> tuple[float, float] | None:
    """``(low, high)`` of a chunk when a value is out of range (NaN counts), else None."""
    if values.dtype == torch.uint8 and levels >= 256:
        return None
    if values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64, torch.uint16):
        array = values.detach().numpy()  # NumPy's min and max: 3x faster than torch.aminmax on strided chunks
        low, high = float(array.min()), float(array.max())  # NaN propagates into both
    elif values.is_floating_point():
        low, high = (float(v) for v in torch.aminmax(values.detach()))
    else:
        low, high = 0.0, float(values.int().amax())  # uint16 has no max of its own
    if values.is_floating_point():
        return None if 0 <= low and high <= 1 else (low, high)  # NaN fails both comparisons
    return None if high < levels else (low, high)


def _check_values(stack: torch.Tensor, levels: int) -> None:
    """RangeError unless float values lie in [0, 1] (no NaN) or integer codes are ``< levels``; one chunked pass."""
    flat = stack.detach().reshape(-1)
    chunk = _CHECK_CODES if flat.device.type == "cpu" else max(flat.numel(), 1)
    found = [e for e in _map_chunks(lambda a, b: _chunk_extremes(flat[a:b], levels), flat.numel(), chunk) if e]
    if found:
        low, high = min(e[0] for e in found), max(e[1] for e in found)
        nan = next((e for e in found if math.isnan(e[0]) or math.isnan(e[1])), None)
        raise _value_error(*(nan or (low, high)), levels, not stack.is_floating_point())


def _check_ldr_stack(stack: object, times: torch.Tensor | None = None, bits: object = None) -> tuple[torch.Tensor, int]:
    """Validate one stack ``(N, 3, H, W)`` of floats in [0, 1] or integer codes (and its times); return it and bits."""
    stack = _check_layout(stack)
    bits = _stack_bits(stack, bits, float_default=8)
    assert bits is not None
    if stack.dim() != 4:
        raise ShapeError(
            describe("one exposure stack of shape (N, 3, H, W)", f"shape {tuple(stack.shape)}",
                     "Recover the response of one bracket at a time: pass stack[b] and times[b].")
        )
    if times is not None:
        check_exposure_times(times, n=stack.shape[0])
    _check_values(stack, 2**bits)
    return stack, bits


def _check_recovery_inputs(stack: object, times: object, bits: object) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Validated ``(stack, ln times, bits)``: ``N >= 2`` exposures, times ``(N,)``; ln times float64 on CPU."""
    times = times if isinstance(times, torch.Tensor) else as_float_tensor(times, "exposure times")
    check_tensor(times, "exposure times")
    if times.dim() != 1:
        raise ShapeError(describe("exposure times of shape (N,)", f"shape {tuple(times.shape)}", "Pass times[b]."))
    stack, bits = _check_ldr_stack(stack, times, bits)
    if stack.shape[0] < 2:
        raise ExposureError(
            describe("at least 2 exposures", f"{stack.shape[0]}",
                     "A response is recovered by comparing exposures of the same pixels: bracket the scene.")
        )
    return stack, times.detach().cpu().double().log(), bits


def _check_int(value: object, name: str, low: int, high: float = math.inf) -> None:
    """DTypeError unless ``value`` is an int; RangeError unless ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DTypeError(describe(f"{name} as an int", type(value).__name__, f"Pass e.g. {name}={max(low, 30)}."))
    if not low <= value <= high:
        raise RangeError(describe(f"{low} <= {name} <= {high}", repr(value), f"Pick {name} in that range."))


def _codes(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer codes ``round(x * (2**bits - 1))`` of LDR values (integer stacks: the values), same shape, long."""
    if not values.is_floating_point():
        return values.detach().long()
    return torch.round(values.detach().double() * (2**bits - 1)).long()


def _check_informative(codes: torch.Tensor, levels: int, what: str) -> None:
    """RangeError unless, in every channel, some pixel shows two different unclipped codes.

    ``codes``: ``(C, P, N)``. Only such a pixel ties the curve's slope to the
    exposure times; with none the response is not determined.
    """
    clipped = (codes == 0) | (codes == levels - 1)
    lowest = codes.masked_fill(clipped, levels).amin(dim=-1)
    highest = codes.masked_fill(clipped, -1).amax(dim=-1)
    useful = (highest > lowest).sum(dim=-1)
    if (useful == 0).any():
        raise RangeError(
            describe(f"{what} that, in every channel, show two different unclipped codes",
                     f"{useful.tolist()} such pixels per channel",
                     "Nothing to fit: the stack is all saturated or all black. Bracket around the scene's "
                     "mid-tones (e.g. simulate_brackets(..., unit='ev')) or sample more pixels.")
        )


def _draw(shape: tuple[int, ...], generator: torch.Generator | None, permutation: bool = False) -> torch.Tensor:
    """Uniform draws in [0, 1) (or a random permutation of ``shape[0]``) on the generator's device, then CPU."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise DTypeError(describe("a torch.Generator or None", type(generator).__name__,
                                  "Use torch.Generator().manual_seed(0)."))
    device = "cpu" if generator is None else generator.device
    if permutation:
        return torch.randperm(shape[0], generator=generator, device=device).cpu()
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float64).cpu()


def _stratified(height: int, width: int, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """One uniformly random pixel in each cell of a ``rows x cols ~ count`` grid; flat indices on CPU."""
    rows = min(height, max(1, round(math.sqrt(count * height / width))))
    cols = min(width, max(1, round(count / rows)))
    u = _draw((2, rows, cols), generator)
    y_edges, x_edges = torch.arange(rows + 1) * height // rows, torch.arange(cols + 1) * width // cols
    y = y_edges[:-1, None] + (u[0] * y_edges.diff()[:, None]).long()
    x = x_edges[None, :-1] + (u[1] * x_edges.diff()[None, :]).long()
    return (y * width + x).flatten()


def _quantile(stack: torch.Tensor, count: int, generator: torch.Generator | None, bits: int) -> torch.Tensor:
    """Pixels at the quantiles ``(k + 1/2) / count`` of the middle exposure's intensity; flat indices on CPU."""
    frame = stack[stack.shape[0] // 2].cpu()  # on the CPU: same ranks on every device
    frame = frame if frame.is_floating_point() else frame.float() / (2**bits - 1)  # the float stack's values
    intensity = frame.mean(dim=0).flatten()
    shuffle = _draw((intensity.numel(),), generator, permutation=True)  # ties in random order
    order = shuffle[intensity[shuffle].argsort(stable=True)]
    ranks = ((torch.arange(count, dtype=torch.float64) + 0.5) * intensity.numel() / count).long()
    return order[ranks]


def _sample(stack: torch.Tensor, count: int, method: str, generator: torch.Generator | None, bits: int) -> torch.Tensor:
    """:func:`sample_pixels` on an already validated stack."""
    if method not in SAMPLING_METHODS:
        raise ChoiceError(describe(f"a sampling method in {SAMPLING_METHODS}", repr(method),
                                   "Use 'stratified' (a jittered grid) or 'quantile' (tones of the middle exposure)."))
    height, width = stack.shape[-2:]
    _check_int(count, "count", 1, height * width)
    if method == "stratified":
        return _stratified(height, width, count, generator).to(stack.device)
    return _quantile(stack, count, generator, bits).to(stack.device)


def sample_pixels(
    stack: torch.Tensor, count: int, method: str = "stratified", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Choose about ``count`` pixels of an exposure stack to fit a response curve on.

    ``"stratified"``: the image is cut into a regular grid of ``rows x cols``
    cells, ``rows = round(sqrt(count * H / W))``, ``cols = round(count / rows)``
    (cells about square, ``rows * cols`` within a row or a column of ``count``),
    and one pixel is drawn uniformly inside each cell: spread over the whole
    picture like OpenCV's grid, never twice on the same lattice.

    ``"quantile"``: histogram-quantile sampling, after the differentiable HDR
    synthesis reference (Kim et al. 2021). All pixels of the middle exposure
    ``stack[N // 2]`` are ranked by intensity (the mean of their three channels;
    ties in random order) and the pixels of rank ``floor((k + 1/2) * H * W / count)``,
    ``k = 0 .. count - 1``, are taken: those at the evenly spaced quantiles
    ``(k + 1/2) / count`` of the intensity distribution. They span the middle
    exposure's tones from darkest to brightest; the shorter and longer
    exposures move each of those tones down and up the code range, so across
    the bracket 1024 samples show 99 % of the unclipped codes the stack shows
    (512: 95-98 %; measured on three scenes, 5 exposures).

    Args:
        stack: ``(N, 3, H, W)`` LDR exposure stack: float in [0, 1], uint8 codes (or uint16 codes < 65536), CPU or GPU.
        count: pixels wanted, ``1 <= count <= H * W``; ``"quantile"`` returns
            exactly ``count``, ``"stratified"`` ``rows * cols``.
        method: one of :data:`SAMPLING_METHODS`.
        generator: ``torch.Generator`` (any device) for reproducible draws; None: the global RNG.

    Returns:
        ``(P,)`` long tensor of distinct flat pixel indices ``y * W + x``, on the stack's device.

    Raises:
        ChoiceError: unknown ``method``.
        DTypeError: a stack neither float nor uint8/uint16, non-int ``count``, bad ``generator``.
        ShapeError: stack not ``(N, 3, H, W)``.
        RangeError: NaN or values outside [0, 1]; ``count`` outside ``[1, H * W]``.

    Example:
        >>> stack = torch.rand(3, 3, 40, 60)
        >>> index = sample_pixels(stack, 24, generator=torch.Generator().manual_seed(0))
        >>> index.shape, index.unique().numel()
        (torch.Size([24]), 24)

    References:
        Debevec & Malik, "Recovering high dynamic range radiance maps from
        photographs", SIGGRAPH 1997, §2.1. Kim, Lee, Choi, Lee & Cho, "End-to-end
        differentiable learning to HDR image synthesis for multi-exposure images", AAAI 2021.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    uint16 = isinstance(stack, torch.Tensor) and stack.dtype == torch.uint16
    stack, bits = _check_ldr_stack(stack, bits=16 if uint16 else None)  # any uint16 code ranks alike
    return _sample(stack, count, method, generator, bits)


def debevec_system(
    codes: torch.Tensor, log_times: torch.Tensor, smoothness: float, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The overdetermined linear system ``A x = b`` of Debevec & Malik for one channel.

    Unknowns ``x = [g(0) .. g(L-1), ln E_0 .. ln E_{P-1}]`` (``L + P`` of them).
    Rows, in this order:

    1. data, pixel-major: row ``i * N + j`` is
       ``w(z_ij) * (g(z_ij) - ln E_i) = w(z_ij) * ln t_j``;
    2. the anchor, row ``P * N``: ``g(L // 2) = 0`` (weight 1);
    3. smoothness, row ``P * N + z`` for ``z = 1 .. L-2``:
       ``smoothness * w(z) * (g(z-1) - 2 g(z) + g(z+1)) = 0``.

    Its least-squares solution minimises eq. 3 of the paper (the rows of its
    ``gsolve.m``). An observation with ``w(z) = 0`` gives an all-zero row; a code
    no pixel shows is fixed by the smoothness rows alone.

    Args:
        codes: ``(P, N)`` integer codes in ``[0, L)``: ``P`` pixels in ``N`` exposures, one channel.
        log_times: ``(N,)`` natural logarithms of the exposure times in seconds.
        smoothness: ``lambda >= 0``, the weight of the second-difference rows.
        weights: ``(L,)`` weight per code, finite and ``>= 0`` (e.g.
            ``hdrlab.imaging.weights.weight_lut("hat")``), ``L >= 3``.

    Returns:
        ``(A, b)``: float64 CPU tensors ``(P * N + L - 1, L + P)`` and ``(P * N + L - 1,)``.

    Raises:
        DTypeError: codes not an integer tensor; weights or log_times not float tensors;
            smoothness not a number.
        ShapeError: shapes that do not fit together.
        RangeError: codes outside ``[0, L)``; NaN/inf/negative weights; NaN/inf log times;
            negative or infinite smoothness.

    Example:
        >>> A, b = debevec_system(torch.tensor([[1, 2]]), torch.tensor([1.0, 2.0]).log(),
        ...                       1.0, torch.tensor([0.0, 1.0, 1.0, 0.0]))
        >>> A
        tensor([[ 0.,  1.,  0.,  0., -1.],
                [ 0.,  0.,  1.,  0., -1.],
                [ 0.,  0.,  1.,  0.,  0.],
                [ 1., -2.,  1.,  0.,  0.],
                [ 0.,  1., -2.,  1.,  0.]], dtype=torch.float64)
        >>> [round(v, 4) for v in b.tolist()]
        [0.0, 0.6931, 0.0, 0.0, 0.0]

    References:
        Debevec & Malik, "Recovering high dynamic range radiance maps from
        photographs", SIGGRAPH 1997, §2.1 and Appendix A (gsolve.m).

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_system_inputs(codes, log_times, smoothness, weights)
    (pixels, exposures), levels = codes.shape, weights.numel()
    z, w = codes.cpu().long().flatten(), weights.detach().cpu().double()
    data = pixels * exposures
    A = torch.zeros(data + levels - 1, levels + pixels, dtype=torch.float64)
    b = torch.zeros(data + levels - 1, dtype=torch.float64)
    rows = torch.arange(data)
    A[rows, z], A[rows, levels + rows // exposures] = w[z], -w[z]
    b[:data] = w[z] * log_times.detach().cpu().double().repeat(pixels)
    A[data, levels // 2] = 1.0
    inner = torch.arange(1, levels - 1)
    rows, w_smooth = data + inner, smoothness * w[inner]
    A[rows, inner - 1], A[rows, inner], A[rows, inner + 1] = w_smooth, -2 * w_smooth, w_smooth
    return A, b


def _check_system_inputs(codes: object, log_times: object, smoothness: object, weights: object) -> None:
    """Typed errors for :func:`debevec_system`'s arguments."""
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.is_complex():
        got = f"dtype {codes.dtype}" if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise DTypeError(describe("codes as an integer tensor", got, "Quantise with (x * (L - 1)).round().long()."))
    check_tensor(weights, "weights")
    check_tensor(log_times, "log times")
    assert isinstance(weights, torch.Tensor) and isinstance(log_times, torch.Tensor)
    if codes.dim() != 2 or log_times.shape != (codes.shape[1],) or weights.dim() != 1 or weights.numel() < 3:
        raise ShapeError(
            describe("codes (P, N), log_times (N,) and weights (L,) with L >= 3",
                     f"{tuple(codes.shape)}, {tuple(log_times.shape)} and {tuple(weights.shape)}",
                     "Pass one channel's codes, one log time per exposure and one weight per code.")
        )
    if codes.numel() and (codes.min() < 0 or codes.max() >= weights.numel()):
        raise RangeError(describe(f"codes in [0, {weights.numel()})", f"[{int(codes.min())}, {int(codes.max())}]",
                                  "Quantise with round(x * (L - 1)) and pass one weight per code."))
    if not (torch.isfinite(log_times).all() and torch.isfinite(weights).all() and (weights >= 0).all()):
        raise RangeError(describe("finite log times and finite weights >= 0", "NaN/inf or negative values",
                                  "Pass log(times) of positive times and a weight LUT in [0, 1]."))
    check_nonnegative(smoothness, "smoothness")


def _debevec_reduced(
    codes: torch.Tensor, log_times: torch.Tensor, smoothness: float, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normal equations of :func:`debevec_system` with the ``ln E`` unknowns eliminated (Schur complement).

    ``codes``: ``(C, P, N)``. Returns ``S (C, L, L)``, ``r (C, L)``: ``S g = r``
    gives the least-squares ``g`` of the full system. With ``v_ij = w(z_ij)**2``
    and ``V_i = sum_j v_ij``, eliminating ``ln E_i = sum_j v_ij (g(z_ij) - ln t_j) / V_i``
    adds ``v_ij`` to ``S[z_ij, z_ij]``, ``-v_ij v_ik / V_i`` to ``S[z_ij, z_ik]`` and
    ``v_ij (ln t_j - sum_k v_ik ln t_k / V_i)`` to ``r[z_ij]``: no ``A`` is ever built.
    Pixels with ``V_i = 0`` (clipped in every exposure) drop out.
    """
    channels, levels = codes.shape[0], weights.numel()
    v = weights[codes] ** 2
    total = v.sum(dim=-1, keepdim=True)
    share = torch.where(total > 0, v / total, 0.0)
    centred_log_times = log_times - (share * log_times).sum(dim=-1, keepdim=True)
    S = _smoothness_normal(weights, smoothness).repeat(channels, 1, 1)
    S[:, levels // 2, levels // 2] += 1.0  # the anchor row g(L // 2) = 0
    c = torch.arange(channels).view(-1, 1, 1, 1)
    S.index_put_((c, codes.unsqueeze(-1), codes.unsqueeze(-2)), -v.unsqueeze(-1) * share.unsqueeze(-2), accumulate=True)
    S.diagonal(dim1=-2, dim2=-1).scatter_add_(1, codes.flatten(1), v.flatten(1))
    r = torch.zeros(channels, levels, dtype=torch.float64).scatter_add_(1, codes.flatten(1),
                                                                       (v * centred_log_times).flatten(1))
    return S, r


def _smoothness_normal(weights: torch.Tensor, smoothness: float) -> torch.Tensor:
    """``R^T R`` for the smoothness rows ``R`` of :func:`debevec_system`: a pentadiagonal ``(L, L)``."""
    levels = weights.numel()
    z = torch.arange(1, levels - 1).view(-1, 1, 1)
    stencil, offsets = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64), torch.arange(-1, 2)
    values = (smoothness * weights[1:-1]).view(-1, 1, 1) ** 2 * stencil.view(1, -1, 1) * stencil.view(1, 1, -1)
    K = torch.zeros(levels, levels, dtype=torch.float64)
    return K.index_put_((z + offsets.view(1, -1, 1), z + offsets.view(1, 1, -1)), values, accumulate=True)


def _anchored(log_response: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``g - g[:, L // 2]`` as float32 on ``device`` (the contract's anchor, exact)."""
    mid = log_response.shape[-1] // 2
    return (log_response - log_response[:, mid : mid + 1]).float().to(device)


def recover_debevec(
    stack: torch.Tensor,
    times: torch.Tensor,
    *,
    bits: int | None = None,
    samples: int | None = None,
    sampling: str = "stratified",
    smoothness: float | None = None,
    weight: str = "hat",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Recover the log inverse camera response ``g`` of an exposure stack (Debevec & Malik).

    Samples ``P`` pixels (:func:`sample_pixels`), then for each channel solves
    the least-squares problem of :func:`debevec_system`: ``g(z_ij) = ln E_i + ln t_j``
    weighted by ``w(z_ij)``, plus ``smoothness * w(z) * g''(z) = 0`` and ``g(L // 2) = 0``.

    How it is solved: the ``ln E`` unknowns are eliminated in closed form and
    the remaining ``L x L`` normal equations are solved by Cholesky in float64
    on the CPU (the stack may live on a GPU; only ``P x N`` codes travel). They
    are symmetric positive definite whenever some sampled pixel shows two
    different unclipped codes, which is checked. This gives the same ``g`` as
    ``torch.linalg.lstsq(A, b, driver="gelsd")`` on :func:`debevec_system` to
    ~1e-11 in ~2 ms instead of 0.5-6 s (8-bit, 128-256 samples, 2 CPU cores);
    ``driver="gelsy"`` (torch's CPU default) is wrong there whenever a sampled
    pixel is clipped in every exposure (a zero column makes ``A`` rank deficient).

    Defaults, measured on all 9 curves x 3 scenes (a synthetic 16-stop
    lognormal, ``room_windows``, ``blender_city``), 8 and 10 bits, three brackets:

    - ``samples = 4 * ceil(L / (N - 1))`` (256 for 8-bit, N = 5), capped at
      ``H * W``: four times Debevec's minimum ``P (N - 1) >= L``; twice the
      minimum is a little less accurate, more gains nothing.
    - ``smoothness = sqrt(P * N) * L / 256`` (36 at the 253 pixels stratified
      sampling gives for 256, N = 5, 8-bit). ``lambda**2`` weighs the ``L - 2``
      smoothness rows against the ``P * N`` data rows, so ``lambda ~ sqrt(P * N)``
      keeps their balance whatever the sample count (a fixed lambda got worse
      with more samples); the factor ``L / 256`` was fitted at 8 and 10 bits.
      Its mean error beats OpenCV's (lambda 10, 70 samples) with 5 exposures
      2 EV apart (0.0080 vs 0.0088 stops), EVs -4.5, -2, -0.5, 1.5, 3.5
      (0.0028 vs 0.0036) and 3 exposures 3 EV apart (0.036 vs 0.041).

    Equal exposure steps leave a periodic ambiguity: a wiggle of ``g`` whose
    period is one step of ``ln t`` changes no ratio between exposures, so only
    the smoothness rows damp it (most of the error with equal steps). Brackets
    with unequal steps pin ``g`` down about 3x better.

    Codes no sampled pixel shows are fixed by smoothness alone: a
    minimum-curvature bridge between shown codes and a straight line (``g'' = 0``)
    beyond the darkest and brightest shown codes, so ``g`` is only trustworthy
    over the range the bracket covers. Codes 0 and ``L - 1`` (clipped) get no
    data weight whatever ``weight`` is.

    Integer stacks are read as they are (no float copy of the stack): uint8
    frames straight from 8-bit files, or uint16 with ``bits`` (12-bit raw is
    stored in uint16); their codes are the values. On the CPU the value check
    runs in chunks and the solve as one task on hdrlab's single-threaded
    workers, so a busy machine slows it down no more than its share of the
    cores (see ``merge_debevec``'s Speed note).

    Args:
        stack: ``(N, 3, H, W)`` LDR stack: float in [0, 1] (codes ``round(x * (2**bits - 1))``),
            uint8 codes, or uint16 codes ``< 2**bits``; CPU or GPU.
        times: ``(N,)`` exposure times in seconds, strictly ascending, ``N >= 2``.
        bits: bit depth of the codes, 8, 10 or 12 (the ``L x L`` solve takes ~5 s at 12 bits);
            None: 8 for float and uint8 stacks; required for uint16 stacks.
        samples: pixels to sample, ``P (N - 1) >= L``; None for the default above.
        sampling: ``"stratified"`` or ``"quantile"`` (see :func:`sample_pixels`).
        smoothness: ``lambda > 0``; None for the default above.
        weight: a weight of :data:`hdrlab.imaging.weights.WEIGHTS` (``"hat"``: Debevec's tent).
        generator: ``torch.Generator`` for the pixel sampling (reproducible results).

    Returns:
        ``g``: float32 ``(3, 2**bits)`` on the stack's device, ``g[c, z] = ln(E * t)``
        that gives code ``z`` in channel ``c``, ``g[:, 2**(bits-1)] = 0``.

    Raises:
        ExposureError: fewer than 2 exposures; times non-positive, unsorted,
            duplicated, or not one per exposure.
        DTypeError: a stack neither float nor uint8/uint16, non-number smoothness, non-int samples.
        ShapeError: stack not ``(N, 3, H, W)``, times not ``(N,)``.
        RangeError: NaN or float values outside [0, 1]; uint16 codes ``>= 2**bits``; samples below Debevec's rule
            or above ``H * W``; smoothness not > 0; nothing to fit (no sampled
            pixel shows two different unclipped codes: all saturated or all black).
        ChoiceError: unknown ``sampling`` or ``weight``; ``bits`` not 8, 10 or 12; a uint16 stack
            without ``bits``; a uint8 stack with ``bits`` other than 8.

    Example:
        >>> from hdrlab.imaging.camera import simulate_brackets
        >>> radiance = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)).mul(12).exp2()
        >>> stack, times = simulate_brackets(radiance, [-2.0, 0.0, 2.0], "srgb", unit="ev")
        >>> g = recover_debevec(stack, times, generator=torch.Generator().manual_seed(0))
        >>> g.shape, g[:, 128].tolist()
        (torch.Size([3, 256]), [0.0, 0.0, 0.0])
        >>> round(response_error_stops(g, log_inverse_response("srgb")), 3)  # in stops
        0.003
        >>> codes = (stack * 255).round().to(torch.uint8)  # the same frames as 8-bit codes
        >>> torch.equal(recover_debevec(codes, times, generator=torch.Generator().manual_seed(0)), g)
        True

    References:
        Debevec & Malik, "Recovering high dynamic range radiance maps from
        photographs", SIGGRAPH 1997.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    stack, log_times, bits = _check_recovery_inputs(stack, times, bits)
    if bits > _DEBEVEC_MAX_BITS:
        raise ChoiceError(
            describe(f"bits <= {_DEBEVEC_MAX_BITS} for the Debevec solve", repr(bits),
                     "Its normal equations are a dense 2**bits x 2**bits matrix: use recover_robertson, "
                     f"or quantise the stack to {_DEBEVEC_MAX_BITS} bits.")
        )
    levels, exposures = 2**bits, stack.shape[0]
    weights = _weight_lut64(weight, bits)
    minimum = math.ceil(levels / (exposures - 1))
    samples = min(_SAMPLE_MARGIN * minimum, stack.shape[-2] * stack.shape[-1]) if samples is None else samples
    _check_int(samples, "samples", 1)
    if samples < minimum:
        raise RangeError(
            describe(f"samples >= {minimum}", repr(samples),
                     f"Debevec's rule: P pixels in N exposures need P * (N - 1) >= L = {levels} codes (here "
                     f"N = {exposures}); sample more pixels, or take a larger image or more exposures.")
        )
    return _on_worker(_solve_debevec, stack, log_times, bits, samples, sampling, smoothness, weights, generator)


def _solve_debevec(stack: torch.Tensor, log_times: torch.Tensor, bits: int, samples: int, sampling: str,
                   smoothness: float | None, weights: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample, build the reduced normal equations and solve them (:func:`recover_debevec` after its checks)."""
    index = _sample(stack, samples, sampling, generator, bits)
    smoothness = math.sqrt(index.numel() * stack.shape[0]) * 2**bits / 256 if smoothness is None else smoothness
    check_positive(smoothness, "smoothness")
    codes = _codes(stack.flatten(2).index_select(2, index), bits).permute(1, 2, 0).cpu()  # (3, P, N)
    _check_informative(codes, 2**bits, "sampled pixels")
    S, r = _debevec_reduced(codes, log_times, float(smoothness), weights)
    return _anchored(torch.cholesky_solve(r.unsqueeze(-1), torch.linalg.cholesky(S)).squeeze(-1), stack.device)


def _fill_unobserved(values: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along the code axis of ``values (C, L)`` between ``observed`` codes, constant beyond.

    Observed codes keep their values exactly; every channel needs one observed code
    (guaranteed by :func:`_check_informative`).
    """
    levels = values.shape[-1]
    z = torch.arange(levels, device=values.device).expand_as(values)
    left = torch.where(observed, z, -1).cummax(dim=-1).values  # last observed code <= z, or -1
    right = torch.where(observed, z, levels).flip(-1).cummin(dim=-1).values.flip(-1)  # first >= z, or L
    left, right = torch.where(left < 0, right, left), torch.where(right == levels, left, right)
    start, end = values.gather(-1, left), values.gather(-1, right)
    return start + (z - left) / (right - left).clamp(min=1) * (end - start)


def recover_robertson(
    stack: torch.Tensor,
    times: torch.Tensor,
    *,
    bits: int | None = None,
    weight: str = "robertson",
    iterations: int = 30,
    tolerance: float = 1e-6,
) -> torch.Tensor:
    """Recover the log inverse camera response ``g`` by Robertson, Borman & Stevenson's iteration.

    The estimator alternates, on every pixel ``i`` of every exposure ``j``
    (no sampling), with ``I(m)`` the linear exposure that gives code ``m``:

    1. ``E_i = sum_j w(z_ij) t_j I(z_ij) / sum_j w(z_ij) t_j**2`` (the weighted
       least-squares radiance given ``I``);
    2. ``I(m) = mean of E_i t_j over all (i, j) with z_ij = m`` (the response given ``E``);
    3. normalise ``I(L // 2) = 1``;

    from a linear ``I(m) = m / (L // 2)``, until ``g = ln I`` changes by at most
    ``tolerance`` (natural log) at every code, or after ``iterations`` rounds.
    Everything runs on the stack's device in float64: a gather, a
    scatter-add and two matrix-vector products per round, no loop over pixels
    (time and memory linear in ``N * H * W``).

    Codes 0 and ``L - 1`` (clipped) get weight 0 in step 1 whatever ``weight``
    is (``"gaussian"`` is > 0 there and would pull saturated pixels into the
    radiance); their ``g`` is step 2's mean exposure of the clipped observations,
    a bound rather than a response value. Pixels clipped in every exposure
    have no radiance and are left out of step 2. Codes no pixel shows get ``ln I``
    interpolated linearly from the nearest shown codes (constant beyond the
    darkest and brightest ones).

    The default weight is OpenCV's (``"robertson"``: ``exp(-16 (x - 1/2)**2)``
    shifted and scaled to 0 at the ends, 1 in the middle) and the default 30
    rounds are OpenCV's ``max_iter``: the codes of each pixel's longest unclipped
    exposure mostly re-estimate themselves (step 1 weighs exposures by ``t**2``),
    so they converge slowly, and a narrow weight converges faster. Accuracy
    (5 curves x 3 scenes, 5 exposures 2 EV apart, 30 rounds): 0.107 stops mean
    error, the same as OpenCV's ``CalibrateRobertson`` on the same uint8 frames
    (the wider ``"gaussian"`` weight: 0.136). Nothing smooths ``g``, so with equal
    exposure steps the periodic ambiguity of :func:`recover_debevec` stays in;
    unequal steps (EVs -4.5, -2, -0.5, 1.5, 3.5) pin it down (~0.02 stops).
    Prefer :func:`recover_debevec` (~0.005 stops on the same data).
    ``benchmarks/hdr_module_vs_opencv.py`` compares the two libraries.

    Args:
        stack: ``(N, 3, H, W)`` LDR stack: float in [0, 1] (codes ``round(x * (2**bits - 1))``),
            uint8 codes, or uint16 codes ``< 2**bits``; CPU or GPU.
        times: ``(N,)`` exposure times in seconds, strictly ascending, ``N >= 2``.
        bits: bit depth of the codes, one of :data:`BIT_DEPTHS`; None: 8 for float and uint8
            stacks; required for uint16 stacks.
        weight: a weight of :data:`hdrlab.imaging.weights.WEIGHTS`; ``"robertson"`` is
            OpenCV's, a Gaussian-like bump as in the paper (``"gaussian"`` is wider).
        iterations: most rounds, ``>= 1``.
        tolerance: stop when ``max |g_new - g_old| <= tolerance`` (nats), ``>= 0``.

    Returns:
        ``g``: float32 ``(3, 2**bits)`` on the stack's device, ``g[c, z] = ln(E * t)``
        that gives code ``z`` in channel ``c``, ``g[:, 2**(bits-1)] = 0``.

    Raises:
        ExposureError: fewer than 2 exposures; times non-positive, unsorted,
            duplicated, or not one per exposure.
        DTypeError: a stack neither float nor uint8/uint16; non-int iterations; non-number tolerance.
        ShapeError: stack not ``(N, 3, H, W)``, times not ``(N,)``.
        RangeError: NaN or values outside [0, 1]; ``iterations < 1``; negative
            tolerance; nothing to fit (no pixel shows two different unclipped codes).
        ChoiceError: unknown ``weight`` or ``bits``; a uint16 stack without ``bits``.

    Example:
        >>> from hdrlab.imaging.camera import simulate_brackets
        >>> radiance = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)).mul(12).exp2()
        >>> stack, times = simulate_brackets(radiance, [-4.5, -2.0, -0.5, 1.5, 3.5], "gamma2.2", unit="ev")
        >>> g = recover_robertson(stack, times)
        >>> g.shape, round(response_error_stops(g, log_inverse_response("gamma2.2")), 2)
        (torch.Size([3, 256]), 0.01)

    References:
        Robertson, Borman & Stevenson, "Estimation-theoretic approach to dynamic
        range enhancement using multiple exposures", J. Electronic Imaging 12(2), 2003.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    stack, log_times, bits = _check_recovery_inputs(stack, times, bits)
    _check_int(iterations, "iterations", 1)
    check_nonnegative(tolerance, "tolerance")
    levels, device = 2**bits, stack.device
    codes = _codes(stack, bits).flatten(2)  # (N, 3, H * W)
    _check_informative(codes.permute(1, 2, 0), levels, "pixels")
    bins = (codes + levels * torch.arange(3, device=device).view(1, 3, 1)).flatten(1)  # (N, 3 H W): channel, code
    weights = _weight_lut64(weight, bits).to(device).repeat(3)  # (3 L,): the weight of each bin
    t = log_times.exp().to(device)
    norm = t**2 @ weights[bins]  # (3 H W,)
    has_radiance = norm > 0  # pixels clipped in every exposure have none and stay out of step 2
    counts = _scatter_exposures(bins, has_radiance.double(), torch.ones_like(t), 3 * levels).clamp(min=1)
    response = (torch.arange(levels, dtype=torch.float64, device=device) / (levels // 2)).repeat(3)
    g = None
    for _ in range(iterations):
        radiance = torch.where(has_radiance, t @ (weights * response)[bins] / norm, 0.0)
        sums = _scatter_exposures(bins, radiance, t, 3 * levels)
        log_response = _fill_unobserved((sums / counts).log().view(3, levels), (sums > 0).view(3, levels))
        g_new = log_response - log_response[:, levels // 2 : levels // 2 + 1]
        converged = g is not None and float((g_new - g).abs().max()) <= tolerance
        g, response = g_new, g_new.exp().flatten()
        if converged:
            break
    assert g is not None
    return _anchored(g, device)


def _scatter_exposures(bins: torch.Tensor, values: torch.Tensor, t: torch.Tensor, size: int) -> torch.Tensor:
    """``out[b] = sum_j t_j sum_{i: bins[j, i] = b} values[i]``: ``bins (N, M)``, ``values (M,)``, ``t (N,)`` -> ``(size,)``."""
    per_exposure = torch.zeros(bins.shape[0], size, dtype=values.dtype, device=values.device)
    return t @ per_exposure.scatter_add_(1, bins, values.expand_as(bins))


def log_inverse_response(crf: str | ResponseCurve, bits: int = 8) -> torch.Tensor:
    """The true ``g`` of a response curve, in the contract of :func:`recover_debevec`: for comparisons.

    ``g[c, z] = ln f^-1(z / (L - 1)) - ln f^-1(mid / (L - 1))`` with ``mid = L // 2``,
    the same for the three channels. ``f^-1(0) = 0`` has ``ln 0 = -inf``: code 0
    takes code 1's value instead (it is a clipped code; :func:`response_error_stops`
    ignores it with its default ``low = 0.05``).

    Args:
        crf: a name of :data:`RESPONSE_CURVES` or a :class:`ResponseCurve`.
        bits: one of :data:`BIT_DEPTHS`.

    Returns:
        float32 CPU tensor ``(3, 2**bits)``, finite, increasing, ``g[:, 2**(bits-1)] = 0``.

    Raises:
        ChoiceError: unknown curve or bit depth.
        DTypeError: ``crf`` neither a name nor a ``ResponseCurve``.

    Example:
        >>> g = log_inverse_response("linear")
        >>> round(float(g[0, 255]), 3), float(g[0, 128]), bool(g[0, 0] == g[0, 1])  # ln(255 / 128)
        (0.689, 0.0, True)

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    exposure = get_response_curve(crf).inverse_lut(bits).double()
    exposure[0] = exposure[1]
    return _anchored(exposure.log().expand(3, -1), torch.device("cpu"))


def response_error_stops(g_est: torch.Tensor, g_true: torch.Tensor, low: float = 0.05, high: float = 0.95) -> float:
    """RMS difference of two log inverse responses, in stops, over the well-exposed codes.

    Over the codes ``z`` with ``low <= z / (L - 1) <= high``: the difference
    ``g_est - g_true`` minus its mean per channel (the absolute scale of ``g``,
    i.e. an exposure offset, cannot be recovered from a stack), divided by
    ``ln 2``, RMS over channels and codes.

    Args:
        g_est: ``(C, L)`` float log inverse response (e.g. from :func:`recover_debevec`), any device.
        g_true: ``(C, L)`` float, the reference (e.g. :func:`log_inverse_response`).
        low, high: code range as fractions of ``L - 1``, ``0 <= low < high <= 1``.

    Returns:
        The RMS error in stops (a Python float, ``>= 0``).

    Raises:
        DTypeError: not float tensors; ``low``/``high`` not numbers.
        ShapeError: shapes differ or are not ``(C, L)`` with ``L >= 2``.
        RangeError: ``low``/``high`` out of order or outside [0, 1]; no code in
            the range; NaN/inf inside the range.

    Example:
        >>> g = log_inverse_response("srgb")
        >>> round(response_error_stops(g + 3.0, g), 6)  # an offset is not an error
        0.0
        >>> round(response_error_stops(g * 1.1, g), 3)  # 10 % too much contrast
        0.201

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_response_pair(g_est, g_true, low, high)
    levels = g_true.shape[-1]
    z = torch.arange(levels, dtype=torch.float64, device=g_true.device) / (levels - 1)
    keep = (z >= low) & (z <= high)
    diff = g_est.detach().double().to(g_true.device)[:, keep] - g_true.detach().double()[:, keep]
    if not keep.any() or not torch.isfinite(diff).all():
        raise RangeError(describe(f"finite responses at codes z / (L - 1) in [{low}, {high}]",
                                  f"{int(keep.sum())} codes, some NaN/inf" if keep.any() else "no code there",
                                  "Widen [low, high], or find where the NaN/inf come from."))
    diff = diff - diff.mean(dim=-1, keepdim=True)
    return float(diff.pow(2).mean().sqrt() / math.log(2))


def _check_response_pair(g_est: object, g_true: object, low: object, high: object) -> None:
    """Typed errors for :func:`response_error_stops`'s arguments (values are checked there)."""
    check_tensor(g_est, "estimated response")
    check_tensor(g_true, "reference response")
    assert isinstance(g_est, torch.Tensor) and isinstance(g_true, torch.Tensor)
    if g_est.shape != g_true.shape or g_true.dim() != 2 or g_true.shape[-1] < 2:
        raise ShapeError(describe("two log inverse responses of the same shape (C, L)",
                                  f"{tuple(g_est.shape)} and {tuple(g_true.shape)}",
                                  "Compare g of the same bit depth, e.g. log_inverse_response(crf, bits)."))
    check_nonnegative(low, "low")
    check_nonnegative(high, "high")
    if not low < high <= 1:
        raise RangeError(describe("0 <= low < high <= 1", f"low={low!r}, high={high!r}", "Use e.g. 0.05 and 0.95."))
