"""Read and write LDR (8/16-bit PNG, JPEG) and HDR (.exr, .hdr) images as torch tensors.

This is the file boundary of the conventions (DESIGN §2): on disk images are
NumPy ``HWC`` arrays in OpenCV's BGR order; in memory they are float32 tensors
``(3, H, W)`` in RGB order. LDR images come back in [0, 1] (8-bit codes / 255,
16-bit codes / 65535); HDR images come back linear and exactly as stored
(negative or huge values included; :func:`hdrlab.data.scenes.load_scene` is
where known defects of the course's scenes are handled). Grey files are
expanded to 3 channels and an alpha channel is dropped.

OpenCV reads OpenEXR only when ``OPENCV_IO_ENABLE_OPENEXR=1`` is set before it
first touches an EXR file; ``import hdrlab`` (and this module) sets it.

Example:
    >>> import tempfile, pathlib, torch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> image = torch.rand(3, 4, 5)
    >>> back = read_image(write_hdr(folder / "x.exr", image))
    >>> back.shape, bool(torch.equal(back, image))
    (torch.Size([3, 4, 5]), True)

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hdrlab import _compat
from hdrlab.errors import ChoiceError, DTypeError, FileFormatError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.validate import check_ldr, check_radiance

_compat.enable_opencv_exr()
import cv2  # noqa: E402  (the EXR switch must be set before cv2 is first imported)

__all__ = ["HDR_EXTENSIONS", "LDR_EXTENSIONS", "read_hdr", "read_image", "read_ldr", "write_hdr", "write_ldr"]

#: File extensions read/written as linear HDR (float) images.
HDR_EXTENSIONS = (".exr", ".hdr")
#: File extensions read/written as display-referred LDR images.
LDR_EXTENSIONS = (".png", ".jpg", ".jpeg")
_CODE_MAX = {8: (255, np.uint8), 16: (65535, np.uint16)}
_EXR_DISABLED = "OpenEXR codec is disabled"


def _as_path(path: str | os.PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise DTypeError(
            describe("a path (str or pathlib.Path)", type(path).__name__, "Pass the file name as a string.")
        )
    return Path(path)


def _check_extension(path: Path, allowed: tuple[str, ...], fix: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise FileFormatError(describe(f"a file ending in one of {allowed}", f"{str(path)!r}", fix))
    return suffix


def _opencv_failure(path: Path, err: Exception | None, action: str) -> FileFormatError:
    """The typed error for a file OpenCV could not ``action`` ("read" or "write")."""
    if err is not None and _EXR_DISABLED in str(err):
        value = os.environ.get("OPENCV_IO_ENABLE_OPENEXR")
        return FileFormatError(
            describe(
                "OpenCV's OpenEXR codec to be enabled",
                f"it disabled while trying to {action} {str(path)!r} (OPENCV_IO_ENABLE_OPENEXR is {value!r} now, "
                "but OpenCV reads it once, when cv2 first handles an EXR file: cv2 was imported and used before "
                "the variable was set to '1')",
                "Set OPENCV_IO_ENABLE_OPENEXR=1 before anything imports cv2: import hdrlab first, or run "
                "`export OPENCV_IO_ENABLE_OPENEXR=1` in the shell; then restart the Python kernel.",
            )
        )
    reason = f": {str(err).strip().splitlines()[-1]}" if err is not None else ""
    fix = {
        "read": "The file is probably truncated or corrupt: download or export it again.",
        "write": "Check write permission and free disk space.",
    }[action]
    got = f"{str(path)!r}, which it could not {action}{reason}"
    return FileFormatError(describe(f"a {path.suffix} file OpenCV can {action}", got, fix))


def _imread(path: Path) -> np.ndarray:
    if not path.is_file():
        raise MissingFileError(
            describe("an existing image file", f"{str(path)!r}, which is not a file", "Check the path and folder.")
        )
    try:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise _opencv_failure(path, err, "read") from err
    if array is None:
        raise _opencv_failure(path, None, "read")
    return array


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """HWC BGR(A) or HW grey array -> (3, H, W) RGB tensor (dtype kept)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] in (1, 2):  # grey (+ alpha)
        array = np.repeat(array[:, :, :1], 3, axis=2)
    rgb = np.ascontiguousarray(array[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _to_array(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) RGB tensor -> HWC BGR float32 array."""
    return np.ascontiguousarray(image.detach().cpu().float().permute(1, 2, 0).numpy()[:, :, ::-1])


def _check_single(image: torch.Tensor) -> None:
    if image.dim() != 3:
        raise ShapeError(
            describe("one image of shape (3, H, W)", f"shape {tuple(image.shape)}", "Write one image at a time.")
        )


def _imwrite(path: Path, array: np.ndarray, params: list[int]) -> Path:
    if not path.parent.is_dir():
        raise MissingFileError(
            describe(
                "an existing folder to write into",
                f"{str(path.parent)!r}, which does not exist",
                "Create it first: Path(folder).mkdir(parents=True, exist_ok=True).",
            )
        )
    try:
        written = cv2.imwrite(str(path), array, params)
    except cv2.error as err:
        raise _opencv_failure(path, err, "write") from err
    if not written:
        raise _opencv_failure(path, None, "write")
    return path


def read_hdr(path: str | os.PathLike) -> torch.Tensor:
    """Read a linear HDR image (.exr or .hdr) exactly as stored.

    Args:
        path: a ``.exr`` (OpenEXR, half or float) or ``.hdr`` (Radiance RGBE) file.

    Returns:
        ``(3, H, W)`` float32 linear RGB. Values are not clamped or validated:
        lossy files can hold negative values (see :mod:`hdrlab.data.scenes`).

    Raises:
        DTypeError: ``path`` is not a str or path.
        FileFormatError: another extension, a truncated/corrupt file, or
            OpenCV's EXR codec disabled (``cv2`` imported before
            ``OPENCV_IO_ENABLE_OPENEXR=1`` was set).
        MissingFileError: the file does not exist.

    Example:
        >>> from hdrlab.data.scenes import data_dir
        >>> read_hdr(data_dir() / "room_windows.exr").shape
        torch.Size([3, 340, 512])

    Taught in: notebooks/00_getting_started.ipynb
    """
    path = _as_path(path)
    _check_extension(path, HDR_EXTENSIONS, "Use read_ldr for PNG/JPEG files, or read_image for any supported file.")
    return _to_tensor(_imread(path)).float()


def read_ldr(path: str | os.PathLike) -> torch.Tensor:
    """Read an 8- or 16-bit LDR image (.png, .jpg, .jpeg) as values in [0, 1].

    Args:
        path: an 8- or 16-bit PNG, or an 8-bit JPEG.

    Returns:
        ``(3, H, W)`` float32 RGB in [0, 1]: 8-bit codes / 255, 16-bit codes /
        65535. The values are display-referred (still sRGB-encoded if the file is).

    Raises:
        DTypeError: ``path`` is not a str or path.
        FileFormatError: another extension, a truncated/corrupt file, or a file
            that holds neither 8- nor 16-bit integer codes.
        MissingFileError: the file does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> image = read_ldr(write_ldr(path, torch.full((3, 2, 2), 0.5)))
        >>> image.shape, round(image[0, 0, 0].item() * 255)  # 0.5 * 255 = 127.5 rounds to code 128
        (torch.Size([3, 2, 2]), 128)

    Taught in: notebooks/00_getting_started.ipynb
    """
    path = _as_path(path)
    _check_extension(path, LDR_EXTENSIONS, "Use read_hdr for EXR/HDR files, or read_image for any supported file.")
    array = _imread(path)
    if array.dtype not in (np.uint8, np.uint16):
        raise FileFormatError(
            describe(
                "an 8- or 16-bit integer LDR image",
                f"{str(path)!r} holding {array.dtype} data",
                "Save LDR images as 8- or 16-bit PNG/JPEG; read float data with read_hdr.",
            )
        )
    return _to_tensor(array).float() / float(np.iinfo(array.dtype).max)


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read any supported image, choosing :func:`read_hdr` or :func:`read_ldr` by extension.

    Args:
        path: a ``.exr``/``.hdr`` (HDR, linear) or ``.png``/``.jpg``/``.jpeg`` (LDR) file.

    Returns:
        ``(3, H, W)`` float32 RGB: linear radiance as stored for HDR files,
        values in [0, 1] for LDR files.

    Raises:
        DTypeError, FileFormatError, MissingFileError: see :func:`read_hdr`, :func:`read_ldr`.

    Example:
        >>> from hdrlab.data.scenes import data_dir
        >>> read_image(data_dir() / "pmndrs_sky.exr").dtype
        torch.float32

    Taught in: notebooks/00_getting_started.ipynb
    """
    path = _as_path(path)
    suffix = _check_extension(path, HDR_EXTENSIONS + LDR_EXTENSIONS, "Convert the image to one of these formats.")
    return read_hdr(path) if suffix in HDR_EXTENSIONS else read_ldr(path)


def write_hdr(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write linear radiance to ``.exr`` (float32, lossless) or ``.hdr`` (RGBE, ~1% precision).

    Args:
        path: target file ending in ``.exr`` or ``.hdr``; its folder must exist.
        image: ``(3, H, W)`` float radiance, finite and ``>= 0`` (unbounded).

    Returns:
        The path written, as a :class:`pathlib.Path`.

    Raises:
        DTypeError: ``path`` not a str/path, or ``image`` not a float tensor.
        ShapeError: ``image`` not ``(3, H, W)``.
        RangeError: negative or non-finite radiance.
        FileFormatError: another extension, or OpenCV failed to encode the file.
        MissingFileError: the target folder does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> path = write_hdr(pathlib.Path(tempfile.mkdtemp()) / "sky.hdr", torch.full((3, 2, 2), 1000.0))
        >>> read_hdr(path)[0, 0, 0].item()
        1000.0

    Taught in: notebooks/00_getting_started.ipynb
    """
    path = _as_path(path)
    suffix = _check_extension(path, HDR_EXTENSIONS, "Use write_ldr for PNG/JPEG (after a tone map).")
    check_radiance(image)
    _check_single(image)
    params = [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_FLOAT] if suffix == ".exr" else []
    return _imwrite(path, _to_array(image), params)


def write_ldr(path: str | os.PathLike, image: torch.Tensor, bits: int = 8, quality: int = 95) -> Path:
    """Write a display-referred image in [0, 1] to an 8/16-bit PNG or 8-bit JPEG.

    Values are rounded to the nearest code (``round(x * 255)`` or
    ``round(x * 65535)``, ties to even), so :func:`read_ldr` returns
    ``code / (2**bits - 1)``: values that are already codes round-trip exactly.

    Args:
        path: target file ending in ``.png``, ``.jpg`` or ``.jpeg``; its folder must exist.
        image: ``(3, H, W)`` float values in [0, 1]; tone map radiance first.
        bits: 8 or 16 (16 only for PNG).
        quality: JPEG quality in [0, 100] (ignored for PNG).

    Returns:
        The path written, as a :class:`pathlib.Path`.

    Raises:
        DTypeError: ``path`` not a str/path, ``image`` not a float tensor, or ``quality`` not an int.
        ShapeError: ``image`` not ``(3, H, W)``.
        RangeError: values outside [0, 1] or NaN, or ``quality`` outside [0, 100].
        ChoiceError: ``bits`` not 8 or 16.
        FileFormatError: another extension, 16-bit JPEG, or OpenCV failed to encode the file.
        MissingFileError: the target folder does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ramp.png"
        >>> ramp = torch.linspace(0, 1, 5).expand(3, 1, 5)
        >>> (read_ldr(write_ldr(path, ramp, bits=16)) * 65535).round()[0, 0].tolist()
        [0.0, 16384.0, 32768.0, 49151.0, 65535.0]

    Taught in: notebooks/00_getting_started.ipynb
    """
    path = _as_path(path)
    suffix = _check_extension(path, LDR_EXTENSIONS, "Use write_hdr for radiance (.exr/.hdr).")
    check_ldr(image)
    _check_single(image)
    if isinstance(bits, bool) or bits not in (8, 16):
        raise ChoiceError(describe("bits 8 or 16", repr(bits), "Pass bits=8 (PNG/JPEG) or bits=16 (PNG only)."))
    if bits == 16 and suffix != ".png":
        raise FileFormatError(
            describe("a .png path for 16-bit output", f"{str(path)!r}", "JPEG is 8-bit only: use .png.")
        )
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise DTypeError(describe("an integer JPEG quality", type(quality).__name__, "Pass e.g. quality=95."))
    if not 0 <= quality <= 100:
        raise RangeError(describe("JPEG quality in [0, 100]", repr(quality), "Pass e.g. quality=95."))
    code_max, dtype = _CODE_MAX[bits]
    codes = np.round(_to_array(image) * code_max).astype(dtype)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    return _imwrite(path, codes, params)
