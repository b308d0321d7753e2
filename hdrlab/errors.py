"""Typed errors raised by hdrlab.

Every error says three things: what was expected, what came, and how to fix it.
Each class also derives from the closest built-in exception (``ValueError``,
``TypeError``, ``FileNotFoundError``, ``ImportError``, ``RuntimeError``) so generic handlers keep
working.

Example:
    >>> import hdrlab
    >>> try:
    ...     hdrlab.env.profile("fast")
    ... except hdrlab.errors.ChoiceError as err:
    ...     print(type(err).__name__)
    ChoiceError
"""

from __future__ import annotations

__all__ = [
    "HdrlabError",
    "ShapeError",
    "DTypeError",
    "RangeError",
    "ExposureError",
    "ChoiceError",
    "FileFormatError",
    "MissingFileError",
    "MissingWeightsError",
    "MissingPackageError",
    "DownloadError",
    "NonFiniteLossError",
    "describe",
]


def describe(expected: str, got: str, fix: str) -> str:
    """Build the standard three-part error message.

    Args:
        expected: what the function needed, e.g. ``"a (*, 3, H, W) tensor"``.
        got: what it received, e.g. ``"shape (3, 64)"``.
        fix: one sentence on how to fix the call.

    Returns:
        ``"Expected <expected>, got <got>. <fix>"``.

    Example:
        >>> describe("times > 0", "0.0", "Pass exposure times in seconds.")
        'Expected times > 0, got 0.0. Pass exposure times in seconds.'
    """
    return f"Expected {expected}, got {got}. {fix}"


class HdrlabError(Exception):
    """Base class of every error hdrlab raises on purpose."""


class ShapeError(HdrlabError, ValueError):
    """A tensor or array has the wrong number of dimensions or sizes."""


class DTypeError(HdrlabError, TypeError):
    """A value has the wrong type or dtype (e.g. uint8 where float32 is needed)."""


class RangeError(HdrlabError, ValueError):
    """Values lie outside their domain: LDR outside [0, 1], negative or NaN radiance."""


class ExposureError(HdrlabError, ValueError):
    """Exposure times or EVs are invalid: non-positive, unsorted, or mismatched with a stack."""


class ChoiceError(HdrlabError, ValueError):
    """A name is not one of the allowed choices (profile, scene, response curve, ...)."""


class FileFormatError(HdrlabError, ValueError):
    """A file exists but cannot be decoded: unsupported extension, truncated or corrupt."""


class MissingFileError(HdrlabError, FileNotFoundError):
    """A file or folder that should exist does not."""


class MissingWeightsError(HdrlabError, RuntimeError):
    """Pretrained weights were requested but are neither cached nor downloadable."""


class MissingPackageError(HdrlabError, ImportError):
    """An optional package a function needs is not installed; the message says how to install it."""


class DownloadError(HdrlabError, RuntimeError):
    """A download failed or its checksum did not match; the message names the manual route."""


class NonFiniteLossError(HdrlabError, FloatingPointError):
    """A training loss term became NaN or inf; ``step`` and ``terms`` say where and which.

    Args:
        message: the three-part message (see :func:`describe`).
        step: the 1-based optimizer step whose loss was non-finite.
        terms: the non-finite loss terms, name to value.
    """

    def __init__(self, message: str, step: int, terms: dict[str, float]) -> None:
        super().__init__(message)
        self.step = step
        self.terms = terms

    def __reduce__(self) -> tuple:  # keep step and terms when pickled (e.g. across processes)
        return type(self), (str(self), self.step, self.terms)
