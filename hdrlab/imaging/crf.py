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
    Narkowicz, "ACES filmic tone mapping curve", 2016.

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch

from hdrlab.errors import ChoiceError, DTypeError, RangeError, describe
from hdrlab.imaging.tonemap import srgb_decode, srgb_encode
from hdrlab.validate import check_tensor

__all__ = ["BIT_DEPTHS", "RESPONSE_CURVES", "ResponseCurve", "check_bit_depth", "get_response_curve"]

#: Bit depths a camera can quantise to (8-bit JPEG/PNG up to 16-bit raw/TIFF).
BIT_DEPTHS = (8, 10, 12, 14, 16)
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
    if isinstance(bits, bool) or bits not in BIT_DEPTHS:
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
        fn: elementwise torch function implementing ``f`` (no validation inside).
        inverse_fn: closed-form elementwise ``f^-1``, or None to invert ``fn``
            by vectorised bisection in float64.

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
