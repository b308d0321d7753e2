"""Tests for hdrlab.io: reading and writing LDR/HDR images as (3, H, W) float32 RGB tensors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hdrlab import io
from hdrlab.data.scenes import data_dir
from hdrlab.errors import (
    ChoiceError,
    DTypeError,
    ExposureError,
    FileFormatError,
    MissingFileError,
    RangeError,
    ShapeError,
)

# The message OpenCV 4.x raises when its EXR codec was initialised while disabled.
EXR_DISABLED = (
    "OpenCV(4.14.0) grfmt_exr.cpp:103: error: (-213:The function/feature is not implemented) imgcodecs: "
    "OpenEXR codec is disabled. You can enable it via 'OPENCV_IO_ENABLE_OPENEXR' option."
)


def hdr_image(height: int = 6, width: int = 7, seed: int = 0) -> torch.Tensor:
    """Radiance spanning 20 stops, with distinct channels."""
    generator = torch.Generator().manual_seed(seed)
    return torch.exp2(torch.rand(3, height, width, generator=generator) * 20 - 10)


def truncated(path, tmp_path):
    data = path.read_bytes()
    target = tmp_path / f"broken{path.suffix}"
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture
def exr_disabled(monkeypatch):
    def fail(*args, **kwargs):
        raise cv2.error(EXR_DISABLED)

    monkeypatch.setattr(io.cv2, "imread", fail)
    monkeypatch.setattr(io.cv2, "imwrite", fail)


class TestReadHdr:
    def test_smoke(self):
        image = io.read_hdr(data_dir() / "room_windows.exr")
        assert image.shape == (3, 340, 512)
        assert image.dtype == torch.float32
        assert image.is_contiguous()

    def test_str_path(self):
        assert io.read_hdr(str(data_dir() / "pmndrs_sky.exr")).shape == (3, 256, 512)

    def test_values_as_stored(self):
        # pmndrs files hold negative pixels (lossy DWAB); read_hdr must not clamp them.
        assert io.read_hdr(data_dir() / "pmndrs_esplanade.exr").min() < -1000

    def test_rgb_order(self, tmp_path):
        bgr = np.zeros((2, 3, 3), np.float32)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = 1.0, 2.0, 3.0  # B, G, R
        cv2.imwrite(str(tmp_path / "x.exr"), bgr)
        assert io.read_hdr(tmp_path / "x.exr")[:, 0, 0].tolist() == [3.0, 2.0, 1.0]

    def test_grey_file_gives_three_channels(self, tmp_path):
        cv2.imwrite(str(tmp_path / "grey.exr"), np.full((2, 3), 5.0, np.float32))
        image = io.read_hdr(tmp_path / "grey.exr")
        assert image.shape == (3, 2, 3)
        assert bool((image == 5.0).all())

    def test_ldr_extension(self, tmp_path):
        with pytest.raises(FileFormatError, match=r"\.exr.*\.hdr"):
            io.read_hdr(tmp_path / "x.png")

    def test_missing_file(self, tmp_path):
        with pytest.raises(MissingFileError, match="nothere.exr"):
            io.read_hdr(tmp_path / "nothere.exr")

    def test_truncated_file(self, tmp_path):
        broken = truncated(data_dir() / "pmndrs_sky.exr", tmp_path)
        with pytest.raises(FileFormatError, match="broken.exr"):
            io.read_hdr(broken)

    def test_not_a_path(self):
        with pytest.raises(DTypeError):
            io.read_hdr(42)

    def test_exr_codec_disabled(self, exr_disabled):
        with pytest.raises(FileFormatError, match="OPENCV_IO_ENABLE_OPENEXR=1 before anything imports cv2"):
            io.read_hdr(data_dir() / "pmndrs_sky.exr")


class TestReadLdr:
    def test_8bit_png(self, tmp_path):
        codes = np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10
        cv2.imwrite(str(tmp_path / "x.png"), codes)
        image = io.read_ldr(tmp_path / "x.png")
        assert image.shape == (3, 2, 4) and image.dtype == torch.float32
        expected = torch.from_numpy(codes[..., ::-1].copy()).permute(2, 0, 1).float() / 255
        assert torch.equal(image, expected)

    def test_16bit_png(self, tmp_path):
        cv2.imwrite(str(tmp_path / "x.png"), np.full((2, 2, 3), 65535, np.uint16))
        assert bool((io.read_ldr(tmp_path / "x.png") == 1.0).all())

    def test_jpeg(self, tmp_path):
        cv2.imwrite(str(tmp_path / "x.jpeg"), np.full((8, 8, 3), 128, np.uint8))
        image = io.read_ldr(tmp_path / "x.jpeg")
        assert image.shape == (3, 8, 8)
        assert torch.allclose(image, torch.full_like(image, 128 / 255), atol=2 / 255)

    def test_grey_and_alpha(self, tmp_path):
        cv2.imwrite(str(tmp_path / "grey.png"), np.full((2, 3), 51, np.uint8))
        assert torch.allclose(io.read_ldr(tmp_path / "grey.png"), torch.full((3, 2, 3), 0.2))
        bgra = np.zeros((2, 3, 4), np.uint8)
        bgra[..., 2], bgra[..., 3] = 255, 7  # red, nearly transparent
        cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
        image = io.read_ldr(tmp_path / "alpha.png")
        assert image.shape == (3, 2, 3)
        assert image[:, 0, 0].tolist() == [1.0, 0.0, 0.0]

    def test_float_data_in_png(self, tmp_path):
        # OpenCV decodes by content: an EXR renamed to .png comes back as float.
        cv2.imwrite(str(tmp_path / "x.exr"), np.ones((2, 2, 3), np.float32))
        (tmp_path / "x.exr").rename(tmp_path / "x.png")
        with pytest.raises(FileFormatError, match="float32"):
            io.read_ldr(tmp_path / "x.png")

    def test_hdr_extension(self, tmp_path):
        with pytest.raises(FileFormatError, match=r"\.png"):
            io.read_ldr(tmp_path / "x.exr")

    def test_missing_file(self, tmp_path):
        with pytest.raises(MissingFileError, match="nothere.png"):
            io.read_ldr(tmp_path / "nothere.png")

    def test_truncated_file(self, tmp_path):
        path = io.write_ldr(tmp_path / "x.png", torch.rand(3, 16, 16))
        with pytest.raises(FileFormatError, match="broken.png"):
            io.read_ldr(truncated(path, tmp_path))


class TestReadImage:
    def test_dispatch(self, tmp_path):
        assert io.read_image(data_dir() / "pmndrs_sky.exr").max() > 1000  # HDR: not scaled
        io.write_ldr(tmp_path / "x.png", torch.ones(3, 2, 2))
        assert io.read_image(tmp_path / "x.png").max() == 1.0

    def test_upper_case_extension(self, tmp_path):
        io.write_ldr(tmp_path / "x.PNG", torch.ones(3, 2, 2))
        assert io.read_image(tmp_path / "x.PNG").shape == (3, 2, 2)

    def test_unsupported_extension_lists_supported(self, tmp_path):
        with pytest.raises(FileFormatError, match=r"\.exr.*\.hdr.*\.png.*\.jpg"):
            io.read_image(tmp_path / "x.tiff")

    def test_missing_file(self, tmp_path):
        with pytest.raises(MissingFileError):
            io.read_image(tmp_path / "nothere.hdr")


class TestWriteHdr:
    def test_exr_round_trip_exact(self, tmp_path):
        image = hdr_image()
        path = io.write_hdr(tmp_path / "x.exr", image)
        assert path == tmp_path / "x.exr"
        assert torch.equal(io.read_hdr(path), image)

    def test_hdr_round_trip_rgbe_precision(self, tmp_path):
        image = hdr_image(seed=1)
        back = io.read_hdr(io.write_hdr(str(tmp_path / "x.hdr"), image))
        # RGBE shares one 8-bit exponent per pixel: error ~1% of the pixel's largest channel.
        assert bool(((back - image).abs() <= 0.01 * image.amax(dim=0)).all())

    def test_zero_radiance(self, tmp_path):
        assert torch.equal(io.read_hdr(io.write_hdr(tmp_path / "x.exr", torch.zeros(3, 2, 2))), torch.zeros(3, 2, 2))

    def test_negative(self, tmp_path):
        with pytest.raises(RangeError):
            io.write_hdr(tmp_path / "x.exr", -hdr_image())

    def test_nan(self, tmp_path):
        image = hdr_image()
        image[0, 0, 0] = float("nan")
        with pytest.raises(RangeError):
            io.write_hdr(tmp_path / "x.exr", image)

    def test_batch(self, tmp_path):
        with pytest.raises(ShapeError):
            io.write_hdr(tmp_path / "x.exr", hdr_image()[None])

    def test_integer_tensor(self, tmp_path):
        with pytest.raises(DTypeError):
            io.write_hdr(tmp_path / "x.exr", torch.ones(3, 2, 2, dtype=torch.uint8))

    def test_ldr_extension(self, tmp_path):
        with pytest.raises(FileFormatError, match="write_ldr"):
            io.write_hdr(tmp_path / "x.png", hdr_image())

    def test_missing_folder(self, tmp_path):
        with pytest.raises(MissingFileError, match="mkdir"):
            io.write_hdr(tmp_path / "no" / "x.exr", hdr_image())

    def test_encoder_failure(self, tmp_path, monkeypatch):
        monkeypatch.setattr(io.cv2, "imwrite", lambda *args: False)
        with pytest.raises(FileFormatError, match="could not write"):
            io.write_hdr(tmp_path / "x.exr", hdr_image())

    def test_exr_codec_disabled(self, tmp_path, exr_disabled):
        with pytest.raises(FileFormatError, match="OPENCV_IO_ENABLE_OPENEXR"):
            io.write_hdr(tmp_path / "x.exr", hdr_image())


class TestWriteLdr:
    def test_8bit_round_trip_exact(self, tmp_path):
        codes = torch.arange(256.0).repeat(3).view(3, 16, 16)
        image = codes / 255
        assert torch.equal(io.read_ldr(io.write_ldr(tmp_path / "x.png", image)), image)

    def test_16bit_round_trip_exact(self, tmp_path):
        codes = torch.randint(0, 65536, (3, 5, 7), generator=torch.Generator().manual_seed(0)).float()
        image = codes / 65535
        assert torch.equal(io.read_ldr(io.write_ldr(tmp_path / "x.png", image, bits=16)), image)

    def test_rounds_to_nearest_code(self, tmp_path):
        image = torch.tensor([0.4, 0.6, 99.4, 99.6, 254.6, 0.0]).view(3, 1, 2) / 255
        back = io.read_ldr(io.write_ldr(tmp_path / "x.png", image)) * 255
        assert back.round().flatten().tolist() == [0.0, 1.0, 99.0, 100.0, 255.0, 0.0]

    def test_jpeg_quality(self, tmp_path):
        ramp = torch.linspace(0, 1, 64).expand(3, 64, 64).contiguous()
        fine = io.write_ldr(tmp_path / "fine.jpg", ramp, quality=95)
        coarse = io.write_ldr(tmp_path / "coarse.jpg", ramp, quality=5)
        assert (io.read_ldr(fine) - ramp).abs().mean() < 0.01
        assert coarse.stat().st_size < fine.stat().st_size

    def test_16bit_jpeg(self, tmp_path):
        with pytest.raises(FileFormatError, match="png"):
            io.write_ldr(tmp_path / "x.jpg", torch.rand(3, 2, 2), bits=16)

    @pytest.mark.parametrize("bits", [12, 32, True, "8"])
    def test_bad_bits(self, tmp_path, bits):
        with pytest.raises(ChoiceError):
            io.write_ldr(tmp_path / "x.png", torch.rand(3, 2, 2), bits=bits)

    def test_bad_quality(self, tmp_path):
        with pytest.raises(RangeError):
            io.write_ldr(tmp_path / "x.jpg", torch.rand(3, 2, 2), quality=101)
        with pytest.raises(DTypeError):
            io.write_ldr(tmp_path / "x.jpg", torch.rand(3, 2, 2), quality=9.5)

    def test_values_outside_unit_range(self, tmp_path):
        with pytest.raises(RangeError, match="tone map"):
            io.write_ldr(tmp_path / "x.png", hdr_image())

    def test_batch(self, tmp_path):
        with pytest.raises(ShapeError):
            io.write_ldr(tmp_path / "x.png", torch.rand(2, 3, 2, 2))

    def test_hdr_extension(self, tmp_path):
        with pytest.raises(FileFormatError, match="write_hdr"):
            io.write_ldr(tmp_path / "x.exr", torch.rand(3, 2, 2))

    def test_missing_folder(self, tmp_path):
        with pytest.raises(MissingFileError):
            io.write_ldr(tmp_path / "no" / "x.png", torch.rand(3, 2, 2))

    def test_encoder_failure(self, tmp_path, monkeypatch):
        monkeypatch.setattr(io.cv2, "imwrite", lambda *args: False)
        with pytest.raises(FileFormatError, match="x.png"):
            io.write_ldr(tmp_path / "x.png", torch.rand(3, 2, 2))


# --- brackets of photographs -------------------------------------------------------------------------


def exif_for(time: float | None = None, orientation: int | None = None):
    """PIL EXIF holding an ExposureTime (as a rational) and/or an Orientation."""
    from fractions import Fraction

    from PIL import Image, TiffImagePlugin

    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if time is not None:
        ratio = Fraction(time).limit_denominator(10**6)
        exif.get_ifd(0x8769)[0x829A] = TiffImagePlugin.IFDRational(ratio.numerator, ratio.denominator)
    return exif


def save_frame(path, codes: np.ndarray, time: float | None = None, orientation: int | None = None):
    """Save HWC RGB uint8 codes with PIL (JPEG quality 95 or PNG), EXIF included."""
    from PIL import Image

    Image.fromarray(codes).save(path, exif=exif_for(time, orientation), quality=95)
    return path


@pytest.fixture
def jpeg_bracket(tmp_path):
    """A simulated 5-frame bracket written as JPEGs with EXIF times (write_bracket), renamed out of exposure order."""
    from hdrlab.imaging import camera

    ramp = torch.exp2(torch.linspace(-6, 2, 64))  # 8 stops left to right, smooth (JPEG keeps it)
    radiance = ramp * torch.linspace(0.5, 1.0, 48)[:, None] * torch.tensor([1.0, 0.8, 0.6])[:, None, None]
    stack, times = camera.simulate_brackets(radiance, [-2.0, -1.0, 0.0, 1.0, 2.0], "srgb", unit="ev")
    io.write_bracket(tmp_path, stack, times)
    for i, name in enumerate(["c.jpg", "a.jpg", "e.jpg", "b.jpg", "d.jpg"]):  # names out of exposure order
        (tmp_path / f"frame_{i:02d}.jpg").rename(tmp_path / name)
    return tmp_path, stack, times


class TestReadBracket:
    def test_exif_times_sorted_shortest_first(self, jpeg_bracket):
        folder, stack, times = jpeg_bracket
        bracket = io.read_bracket(folder)
        assert [p.name for p in bracket.paths] == ["c.jpg", "a.jpg", "e.jpg", "b.jpg", "d.jpg"]
        assert torch.allclose(bracket.times, times, rtol=1e-6)
        assert bracket.codes.dtype == torch.uint8 and bracket.bits == 8
        assert float((bracket.stack - stack).abs().mean()) < 0.02  # JPEG quality 95

    def test_a_list_of_files_in_any_order(self, jpeg_bracket):
        folder, _, times = jpeg_bracket
        bracket = io.read_bracket([folder / "d.jpg", folder / "c.jpg"])
        assert [p.name for p in bracket.paths] == ["c.jpg", "d.jpg"]
        assert torch.allclose(bracket.times, times[[0, 4]], rtol=1e-6)

    def test_the_bracket_merges(self, jpeg_bracket):
        from hdrlab.imaging import crf, merge

        bracket = io.read_bracket(jpeg_bracket[0])
        g = crf.recover_debevec(bracket.codes, bracket.times, generator=torch.Generator().manual_seed(0))
        radiance = merge.merge_debevec(bracket.codes, bracket.times, g)
        assert radiance.shape == (3, 48, 64) and bool(torch.isfinite(radiance).all())

    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_orientation_as_a_photo_viewer_shows_it(self, tmp_path, orientation):
        from PIL import Image, ImageOps

        codes = (np.random.default_rng(orientation).random((6, 9, 3)) * 255).astype(np.uint8)
        paths = [save_frame(tmp_path / f"{i}.png", codes // (i + 1), 0.01 * (i + 1), orientation) for i in range(2)]
        bracket = io.read_bracket(tmp_path)
        with Image.open(paths[0]) as image:
            expected = torch.from_numpy(np.array(ImageOps.exif_transpose(image))).permute(2, 0, 1)
        assert torch.equal(bracket.codes[0], expected)
        assert bracket.codes.shape[-2:] == ((9, 6) if orientation >= 5 else (6, 9))

    def test_sixteen_bit_frames_with_a_times_file(self, tmp_path):
        rng = np.random.default_rng(0)
        for name in ("long.png", "short.png"):
            cv2.imwrite(str(tmp_path / name), (rng.random((5, 7, 3)) * 65535).astype(np.uint16))
        (tmp_path / "times.txt").write_text("# seconds\nlong.png 0.5   # half a second\n\nshort.png 1/500\n")
        bracket = io.read_bracket(tmp_path)
        assert bracket.codes.dtype == torch.uint16 and bracket.bits == 16
        assert [p.name for p in bracket.paths] == ["short.png", "long.png"]
        assert torch.allclose(bracket.times, torch.tensor([0.002, 0.5]))
        assert float(bracket.stack.max()) <= 1.0

    def test_a_times_file_overrides_exif(self, jpeg_bracket, tmp_path_factory):
        folder, _, _ = jpeg_bracket
        fixed = tmp_path_factory.mktemp("times") / "fixed.txt"
        fixed.write_text("".join(f"{name} {seconds}\n" for name, seconds in
                                 zip("abcde", (1, 2, 4, 8, 16))).replace(" ", ".jpg ", 5))
        bracket = io.read_bracket(folder, times_file=fixed)
        assert bracket.times.tolist() == [1, 2, 4, 8, 16]
        assert [p.name for p in bracket.paths] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]

    def test_corrupt_frame(self, jpeg_bracket):
        folder = jpeg_bracket[0]
        data = (folder / "a.jpg").read_bytes()
        (folder / "a.jpg").write_bytes(data[: len(data) // 2])  # OpenCV would decode it, grey-filled
        with pytest.raises(FileFormatError, match="a.jpg.*truncated"):
            io.read_bracket(folder)

    def test_single_frame(self, tmp_path):
        save_frame(tmp_path / "only.jpg", np.zeros((4, 4, 3), np.uint8), 0.01)
        with pytest.raises(ShapeError, match="at least 2 frames"):
            io.read_bracket(tmp_path)

    def test_repeated_times(self, tmp_path):
        for name in ("x.jpg", "y.jpg"):
            save_frame(tmp_path / name, np.zeros((4, 4, 3), np.uint8), 1 / 60)
        with pytest.raises(ExposureError, match="x.jpg and y.jpg"):
            io.read_bracket(tmp_path)

    def test_mismatched_sizes(self, tmp_path):
        save_frame(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), 1 / 60)
        save_frame(tmp_path / "y.jpg", np.zeros((4, 6, 3), np.uint8), 1 / 30)
        with pytest.raises(ShapeError, match=r"y.jpg: \(4, 6\)"):
            io.read_bracket(tmp_path)

    def test_mixed_bit_depths(self, tmp_path):
        cv2.imwrite(str(tmp_path / "x.png"), np.zeros((4, 4, 3), np.uint8))
        cv2.imwrite(str(tmp_path / "y.png"), np.zeros((4, 4, 3), np.uint16))
        (tmp_path / "times.txt").write_text("x.png 1\ny.png 2\n")
        with pytest.raises(DTypeError, match="one bit depth"):
            io.read_bracket(tmp_path)

    def test_no_time_anywhere_names_the_file(self, tmp_path):
        save_frame(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), 1 / 60)
        save_frame(tmp_path / "y.jpg", np.zeros((4, 4, 3), np.uint8))
        with pytest.raises(MissingFileError, match="y.jpg.*no EXIF ExposureTime.*times.txt"):
            io.read_bracket(tmp_path)
        (tmp_path / "times.txt").write_text("x.jpg 1/60\n")
        with pytest.raises(MissingFileError, match="'y.jpg' in the times file"):
            io.read_bracket(tmp_path)

    @pytest.mark.parametrize("line", ["y.jpg", "y.jpg fast", "y.jpg 1/0", "y.jpg 1 2"])
    def test_malformed_times_file(self, tmp_path, line):
        for name in ("x.jpg", "y.jpg"):
            save_frame(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
        (tmp_path / "times.txt").write_text(f"x.jpg 1/60\n{line}\n")
        with pytest.raises(FileFormatError, match="line 2"):
            io.read_bracket(tmp_path)

    @pytest.mark.parametrize("seconds", ["0", "-0.01", "inf"])
    def test_times_must_be_positive_and_finite(self, tmp_path, seconds):
        for name in ("x.jpg", "y.jpg"):
            save_frame(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
        (tmp_path / "times.txt").write_text(f"x.jpg 1/60\ny.jpg {seconds}\n")
        with pytest.raises(ExposureError, match="positive, finite"):
            io.read_bracket(tmp_path)

    def test_bad_sources(self, tmp_path):
        with pytest.raises(MissingFileError, match="not a folder"):
            io.read_bracket(tmp_path / "nowhere")
        with pytest.raises(DTypeError, match="a folder path or a list"):
            io.read_bracket(3)
        with pytest.raises(FileFormatError, match="ending in one of"):
            io.read_bracket([tmp_path / "a.gif", tmp_path / "b.gif"])
        with pytest.raises(MissingFileError, match="times file"):
            io.read_bracket([tmp_path / "a.jpg", tmp_path / "b.jpg"], times_file=tmp_path / "none.txt")


class TestWriteBracket:
    def test_png_round_trip_is_exact(self, tmp_path):
        stack = torch.rand(3, 3, 4, 5, generator=torch.Generator().manual_seed(0))
        times = torch.tensor([1 / 1000, 1 / 60, 0.5])
        bracket = io.read_bracket(io.write_bracket(tmp_path / "new", stack, times, suffix=".png"))
        assert torch.equal(bracket.codes, (stack * 255).round().to(torch.uint8))
        assert torch.allclose(bracket.times, times, rtol=1e-6)

    def test_bad_input(self, tmp_path):
        stack, times = torch.rand(2, 3, 4, 4), torch.tensor([0.1, 0.2])
        with pytest.raises(FileFormatError, match="ending in one of"):
            io.write_bracket(tmp_path, stack, times, suffix=".gif")
        with pytest.raises(ShapeError, match="N >= 2"):
            io.write_bracket(tmp_path, stack[:1], times[:1])
        with pytest.raises(ExposureError):
            io.write_bracket(tmp_path, stack, times.flip(0))  # not ascending
        with pytest.raises(ShapeError, match=r"times of shape \(N,\)"):
            io.write_bracket(tmp_path, stack, times[None])
        with pytest.raises(RangeError):
            io.write_bracket(tmp_path, stack * 2, times)
