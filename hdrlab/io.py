"""Read and write LDR (8/16-bit PNG, JPEG) and HDR (.exr, .hdr) images as torch tensors; read brackets of photographs.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hdrlab import _compat
from hdrlab.errors import (
    ChoiceError,
    DTypeError,
    ExposureError,
    FileFormatError,
    MissingFileError,
    RangeError,
    ShapeError,
    describe,
)
from hdrlab.validate import as_path, check_exposure_times, check_ldr, check_radiance

_compat.enable_opencv_exr()
import cv2  # noqa: E402  (the EXR switch must be set before cv2 is first imported)

__all__ = ["BRACKET_EXTENSIONS", "HDR_EXTENSIONS", "LDR_EXTENSIONS", "TIMES_FILE", "Bracket", "read_bracket", "read_hdr",
           "read_image", "read_ldr", "write_bracket", "write_hdr", "write_ldr"]

#: File extensions read/written as linear HDR (float) images.
HDR_EXTENSIONS = (".exr", ".hdr")
#: File extensions read/written as display-referred LDR images.
LDR_EXTENSIONS = (".png", ".jpg", ".jpeg")
_CODE_MAX = {8: (255, np.uint8), 16: (65535, np.uint16)}
_EXR_DISABLED = "OpenEXR codec is disabled"
_JPEG_TAIL = 1024  # bytes at a JPEG's end searched for its end-of-image marker (some cameras append a trailer)


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
    if path.suffix.lower() in (".jpg", ".jpeg"):
        _check_jpeg_end(path)
    return array


def _check_jpeg_end(path: Path) -> None:
    """Raise FileFormatError when a JPEG lacks its end-of-image marker (OpenCV decodes a truncated one, grey-filled)."""
    with open(path, "rb") as handle:
        handle.seek(max(path.stat().st_size - _JPEG_TAIL, 0))
        tail = handle.read()
    if b"\xff\xd9" not in tail:
        raise FileFormatError(describe("a complete JPEG file ending in its end-of-image marker",
                                       f"{str(path)!r}, which has none in its last {_JPEG_TAIL} bytes (truncated?)",
                                       "The file is probably truncated: copy or export it again."))


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
    path = as_path(path)
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
    path = as_path(path)
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
    path = as_path(path)
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
    path = as_path(path)
    suffix = _check_extension(path, HDR_EXTENSIONS, "Use write_ldr for PNG/JPEG (after a tone map).")
    check_radiance(image)
    _check_single(image)
    params = [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_FLOAT] if suffix == ".exr" else []
    return _imwrite(path, _to_array(image), params)


def _check_quality(quality: object) -> None:
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise DTypeError(describe("an integer JPEG quality", type(quality).__name__, "Pass e.g. quality=95."))
    if not 0 <= quality <= 100:
        raise RangeError(describe("JPEG quality in [0, 100]", repr(quality), "Pass e.g. quality=95."))


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
    path = as_path(path)
    suffix = _check_extension(path, LDR_EXTENSIONS, "Use write_hdr for radiance (.exr/.hdr).")
    check_ldr(image)
    _check_single(image)
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in (8, 16):
        raise ChoiceError(describe("bits 8 or 16", repr(bits), "Pass bits=8 (PNG/JPEG) or bits=16 (PNG only)."))
    if bits == 16 and suffix != ".png":
        raise FileFormatError(
            describe("a .png path for 16-bit output", f"{str(path)!r}", "JPEG is 8-bit only: use .png.")
        )
    _check_quality(quality)
    code_max, dtype = _CODE_MAX[bits]
    codes = np.round(_to_array(image) * code_max).astype(dtype)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    return _imwrite(path, codes, params)


# --- brackets of real photographs ----------------------------------------------------------------

#: Image files :func:`read_bracket` takes: 8-bit JPEG, 8- or 16-bit PNG and TIFF.
BRACKET_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
#: The file :func:`read_bracket` looks for beside the frames when a frame has no EXIF exposure time.
TIMES_FILE = "times.txt"
_EXIF_IFD, _EXPOSURE_TIME, _ORIENTATION = 0x8769, 0x829A, 0x0112  # EXIF 2.3 tags (ExifIFD, ExposureTime, Orientation)


@dataclass(frozen=True)
class Bracket:
    """An exposure bracket read from image files, shortest exposure first.

    Attributes:
        codes: ``(N, 3, H, W)`` uint8 (8-bit files) or uint16 (16-bit files) RGB codes,
            EXIF orientation applied; what :func:`~hdrlab.imaging.crf.recover_debevec` and
            :func:`~hdrlab.imaging.merge.merge_debevec` take with ``bits``.
        times: ``(N,)`` float32 exposure times in seconds, increasing.
        bits: 8 or 16, the files' bit depth.
        paths: the files, in the order of ``codes``.
    """

    codes: torch.Tensor
    times: torch.Tensor
    bits: int
    paths: tuple[Path, ...]

    @property
    def stack(self) -> torch.Tensor:
        """``(N, 3, H, W)`` float32 frames in [0, 1]: ``codes / (2**bits - 1)``."""
        return self.codes.float() / float(2**self.bits - 1)


def read_bracket(source: str | os.PathLike | list | tuple, *, times_file: str | os.PathLike | None = None) -> Bracket:
    """Read a bracket of photographs and their exposure times, shortest exposure first.

    Exposure times come from each file's EXIF ``ExposureTime``. A frame without one
    takes its time from a times file: ``times_file`` when given (it then overrides EXIF
    for every frame), else ``times.txt`` in the frame's folder. A times file has one
    line per frame, ``<file name> <seconds>``, seconds as a number or a fraction
    (``IMG_0042.JPG 1/250``); blank lines and ``#`` comments are skipped. Each frame's
    EXIF ``Orientation`` is applied, as a photo viewer shows it.

    Args:
        source: a folder (every file in it ending in one of :data:`BRACKET_EXTENSIONS`,
            by name) or a list of file paths.
        times_file: a times file that overrides EXIF (optional).

    Returns:
        A :class:`Bracket`: codes ``(N, 3, H, W)`` uint8/uint16, times ``(N,)``, bits, paths.

    Raises:
        DTypeError: ``source`` or ``times_file`` of the wrong type; frames of different bit depths.
        MissingFileError: a missing file or folder; a frame with no exposure time anywhere.
        FileFormatError: an unsupported extension, a corrupt image, a malformed times file.
        ShapeError: fewer than 2 frames; frames of different sizes.
        ExposureError: a time that is not positive and finite; two frames with the same time.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name, value in (("dark.png", 0.2), ("bright.png", 0.8)):
        ...     _ = write_ldr(folder / name, torch.full((3, 2, 2), value))
        >>> _ = (folder / "times.txt").write_text("dark.png 1/100\\nbright.png 1/25\\n")
        >>> bracket = read_bracket(folder)
        >>> [path.name for path in bracket.paths], [round(t, 6) for t in bracket.times.tolist()], bracket.codes.dtype
        (['dark.png', 'bright.png'], [0.01, 0.04], torch.uint8)

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    paths = _bracket_paths(source)
    override = None if times_file is None else _read_times_file(as_path(times_file))
    frames, times = [], []
    for path in paths:
        frames.append(_oriented(_to_tensor(_imread(path)), _exif_value(path, _ORIENTATION)))
        times.append(_exposure_time(path, override))
    _check_bracket_frames(frames, paths)
    _check_bracket_times(times, paths)
    order = sorted(range(len(paths)), key=times.__getitem__)
    codes = torch.stack([frames[i] for i in order])
    return Bracket(codes, torch.tensor([times[i] for i in order], dtype=torch.float32),
                   8 if codes.dtype == torch.uint8 else 16, tuple(paths[i] for i in order))


def write_bracket(folder: str | os.PathLike, stack: torch.Tensor, times: torch.Tensor, *, suffix: str = ".jpg",
                  quality: int = 95) -> Path:
    """Write a bracket as a camera would: one 8-bit file per frame, its exposure time in its EXIF.

    The files are ``frame_00.jpg``, ``frame_01.jpg``, ... in the order given, each with
    EXIF ``ExposureTime`` (the closest fraction with a denominator up to 10^6), so
    :func:`read_bracket` reads them back.

    Args:
        folder: the folder to write into (created when missing).
        stack: ``(N, 3, H, W)`` float frames in [0, 1] (e.g. from
            :func:`hdrlab.imaging.camera.simulate_brackets`), N >= 2.
        times: ``(N,)`` positive exposure times in seconds, ascending.
        suffix: ``".jpg"``, ``".jpeg"`` or ``".png"``.
        quality: JPEG quality in [0, 100].

    Returns:
        The folder.

    Raises:
        DTypeError, ShapeError, RangeError: see :func:`write_ldr` (also for ``quality``).
        FileFormatError: another suffix.
        ExposureError: times not one per frame, positive, finite and ascending.

    Example:
        >>> import tempfile, pathlib
        >>> stack = torch.stack([torch.full((3, 2, 2), 0.2), torch.full((3, 2, 2), 0.8)])
        >>> folder = write_bracket(pathlib.Path(tempfile.mkdtemp()) / "bracket", stack, torch.tensor([0.01, 0.04]))
        >>> [round(t, 6) for t in read_bracket(folder).times.tolist()]
        [0.01, 0.04]
    """
    from fractions import Fraction

    from PIL import Image, TiffImagePlugin

    _check_extension(Path(f"frame{suffix}"), (".jpg", ".jpeg", ".png"), "Use suffix='.jpg' or '.png'.")
    _check_quality(quality)
    check_ldr(stack)
    if stack.dim() != 4 or stack.shape[0] < 2:
        raise ShapeError(describe("a stack (N, 3, H, W) with N >= 2", f"shape {tuple(stack.shape)}",
                                  "Pass the frames of one bracket, e.g. from camera.simulate_brackets."))
    check_exposure_times(times, stack.shape[0])
    if times.dim() != 1:
        raise ShapeError(describe("times of shape (N,)", f"shape {tuple(times.shape)}", "Write one bracket at a time."))
    seconds = times.tolist()
    out = as_path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i, (frame, time) in enumerate(zip(stack, seconds)):
        exif, ratio = Image.Exif(), Fraction(time).limit_denominator(10**6)
        exif[_ORIENTATION] = 1  # as stored (Pillow drops an EXIF block whose first directory is empty)
        exif.get_ifd(_EXIF_IFD)[_EXPOSURE_TIME] = TiffImagePlugin.IFDRational(ratio.numerator, ratio.denominator)
        codes = (frame.detach().cpu().float().permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(codes).save(out / f"frame_{i:02d}{suffix}", exif=exif, quality=quality)
    return out


def _bracket_paths(source: object) -> list[Path]:
    """The frame files of a folder (sorted by name) or of a list of paths, each an existing supported file."""
    if isinstance(source, (list, tuple)):
        paths = [as_path(item) for item in source]
    elif isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise MissingFileError(describe("a folder of bracket frames (or a list of files)",
                                            f"{str(folder)!r}, which is not a folder", "Check the path."))
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in BRACKET_EXTENSIONS)
    else:
        raise DTypeError(describe("a folder path or a list of image paths", type(source).__name__,
                                  "Pass read_bracket('my_bracket/') or read_bracket(['a.jpg', 'b.jpg'])."))
    if len(paths) < 2:
        raise ShapeError(describe("a bracket of at least 2 frames", f"{len(paths)} frame(s) in {source!r}",
                                  f"Put every exposure of the bracket ({', '.join(BRACKET_EXTENSIONS)}) in the folder."))
    for path in paths:
        _check_extension(path, BRACKET_EXTENSIONS, "Export the frames as JPEG, PNG or TIFF.")
    return paths


def _exif_value(path: Path, tag: int) -> object:
    """The EXIF value of ``tag`` (IFD0, or the Exif IFD for ExposureTime), None when absent or unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            exif = image.getexif()
            return (exif.get_ifd(_EXIF_IFD) if tag == _EXPOSURE_TIME else exif).get(tag)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # no readable metadata: none
        return None


def _oriented(image: torch.Tensor, orientation: object) -> torch.Tensor:
    """``(3, H, W)`` turned as EXIF ``Orientation`` 1-8 says (anything else: as stored)."""
    turns = {2: lambda x: x.flip(-1), 3: lambda x: x.flip(-1, -2), 4: lambda x: x.flip(-2),
             5: lambda x: x.transpose(-1, -2), 6: lambda x: torch.rot90(x, -1, (-2, -1)),
             7: lambda x: x.transpose(-1, -2).flip(-1, -2), 8: lambda x: torch.rot90(x, 1, (-2, -1))}
    turn = turns.get(orientation) if isinstance(orientation, int) else None
    return image if turn is None else turn(image).contiguous()


def _exposure_time(path: Path, override: dict[str, float] | None) -> float:
    """A frame's exposure time in seconds: from ``override``, else EXIF, else ``times.txt`` beside it."""
    if override is None:
        value = _exif_value(path, _EXPOSURE_TIME)
        if value is not None:
            return float(value)
        beside = path.parent / TIMES_FILE
        if not beside.is_file():
            raise MissingFileError(describe(
                f"an exposure time for {str(path)!r}", f"no EXIF ExposureTime in it and no {TIMES_FILE} beside it",
                f"Write {beside} with a line '<file name> <seconds>' per frame, e.g. '{path.name} 1/250'."))
        override = _read_times_file(beside)
    if path.name not in override:
        raise MissingFileError(describe(f"a line for {path.name!r} in the times file", "none",
                                        f"Add '{path.name} <seconds>' to the times file."))
    return override[path.name]


def _read_times_file(path: Path) -> dict[str, float]:
    """``{file name: seconds}`` from a times file (``name seconds`` per line; ``#`` comments)."""
    if not path.is_file():
        raise MissingFileError(describe("an existing times file", f"{str(path)!r}, which is not a file",
                                        "Check the path, or leave times_file out to use EXIF."))
    times = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            name, value = fields
            numerator, _, denominator = value.partition("/")
            times[name] = float(numerator) / float(denominator or 1)
        except (ValueError, ZeroDivisionError):
            raise FileFormatError(describe(f"'<file name> <seconds>' on line {number} of {str(path)!r}",
                                           repr(line), "Write e.g. 'IMG_0042.JPG 1/250' or 'IMG_0043.JPG 0.5'.")
                                  ) from None
    return times


def _check_bracket_frames(frames: list[torch.Tensor], paths: list[Path]) -> None:
    for frame, path in zip(frames[1:], paths[1:]):
        if frame.dtype != frames[0].dtype:
            raise DTypeError(describe(f"frames of one bit depth ({paths[0].name}: {frames[0].dtype})",
                                      f"{path.name}: {frame.dtype}", "Export every frame at the same bit depth."))
        if frame.dtype not in (torch.uint8, torch.uint16):
            raise FileFormatError(describe("8- or 16-bit integer frames", f"{path.name}: {frame.dtype}",
                                           "Export the frames as 8/16-bit JPEG, PNG or TIFF."))
        if frame.shape != frames[0].shape:
            raise ShapeError(describe(f"frames of one size ({paths[0].name}: {tuple(frames[0].shape[1:])})",
                                      f"{path.name}: {tuple(frame.shape[1:])}",
                                      "Use the camera's full-size frames, uncropped (rotated frames are turned "
                                      "by their EXIF orientation first)."))


def _check_bracket_times(times: list[float], paths: list[Path]) -> None:
    for time, path in zip(times, paths):
        if not (time > 0 and time != float("inf")):
            raise ExposureError(describe("positive, finite exposure times", f"{time} s for {path.name}",
                                         "Check the camera's EXIF or the times file."))
    for i, time in enumerate(times):
        for j in range(i):
            if times[j] == time:
                raise ExposureError(describe(
                    "a different exposure time for every frame", f"{time} s for both {paths[j].name} and "
                    f"{paths[i].name}", "Remove the repeated frame (a bracket needs distinct exposures), or "
                    "correct its time in the times file."))
