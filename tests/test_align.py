"""hdrlab.imaging.align: median threshold bitmap (MTB) alignment, against known shifts and OpenCV's AlignMTB."""

from __future__ import annotations

import pytest
import torch

from hdrlab.data.scenes import load_scene
from hdrlab.errors import DTypeError, RangeError, ShapeError
from hdrlab.imaging.align import MTBAlignment, align_mtb, median_threshold_bitmap, shift_image
from hdrlab.imaging.camera import simulate_brackets


@pytest.fixture(scope="module")
def bracket() -> torch.Tensor:
    """A 3-frame sRGB bracket (EV -2, 0, +2) of a real scene, 512 x 256."""
    stack, _ = simulate_brackets(load_scene("blender_courtyard", max_side=512), [-2.0, 0.0, 2.0], "srgb", unit="ev")
    return stack


def moved(stack: torch.Tensor, shifts: list[tuple[int, int]]) -> torch.Tensor:
    return torch.stack([shift_image(frame, shift) for frame, shift in zip(stack, shifts)])


class TestShiftImage:
    def test_known_values(self):
        image = torch.arange(1, 10).view(3, 3)
        assert shift_image(image, (1, -1)).tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
        assert torch.equal(shift_image(image, (0, 0)), image)
        assert not shift_image(image, (3, 0)).any()  # shifted out entirely

    def test_round_trip_inside(self):
        image = torch.rand(2, 3, 10, 12)
        back = shift_image(shift_image(image, (2, -3)), (-2, 3))
        assert torch.equal(back[..., :-2, 3:], image[..., :-2, 3:])  # what never left the frame

    def test_exceptions(self):
        with pytest.raises(DTypeError):
            shift_image([[1.0]], (0, 0))
        with pytest.raises(ShapeError):
            shift_image(torch.ones(4), (0, 1))
        with pytest.raises(DTypeError):
            shift_image(torch.ones(2, 2), (0.5, 1))


class TestMedianThresholdBitmap:
    def test_known_values(self):
        grey = torch.tensor([[10, 20, 30, 200]], dtype=torch.uint8)  # median 21 (two pixels below it)
        threshold, exclusion = median_threshold_bitmap(grey)
        assert threshold.tolist() == [[False, False, True, True]]
        assert exclusion.tolist() == [[True, False, True, True]]  # |20 - 21| <= 4 is ignored
        _, wide = median_threshold_bitmap(grey, exclude_range=15)
        assert wide.tolist() == [[False, False, False, True]]

    def test_half_the_pixels_above_the_median(self):
        grey = torch.randint(0, 256, (64, 64), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        threshold, _ = median_threshold_bitmap(grey)
        assert abs(threshold.float().mean() - 0.5) < 0.01

    def test_exceptions(self):
        with pytest.raises(DTypeError):
            median_threshold_bitmap(torch.rand(4, 4))
        with pytest.raises(ShapeError):
            median_threshold_bitmap(torch.zeros(1, 4, 4, dtype=torch.uint8))
        with pytest.raises(RangeError):
            median_threshold_bitmap(torch.zeros(4, 4, dtype=torch.uint8), exclude_range=-1)


class TestAlignMTB:
    @pytest.mark.parametrize("shifts", [[(3, -7), (0, 0), (-5, 11)], [(0, 0), (0, 0), (0, 0)],
                                        [(-20, 0), (0, 0), (1, 30)]])
    def test_recovers_known_shifts(self, bracket, shifts):
        """Frames of different exposure, translated: the shifts that undo the motion are found."""
        result = align_mtb(moved(bracket, shifts))
        assert isinstance(result, MTBAlignment)
        assert result.shifts.tolist() == [[-dy, -dx] for dy, dx in shifts]

    def test_cut_and_aligned_content(self, bracket):
        shifts = [(3, -7), (0, 0), (-5, 11)]
        result = align_mtb(moved(bracket, shifts))
        height, width = bracket.shape[-2:]
        assert result.aligned.shape == (3, 3, height - 3 - 5, width - 7 - 11)  # the part all three frames cover
        assert torch.equal(result.aligned, bracket[..., 5 : height - 3, 7 : width - 11])  # the motion undone exactly
        full = align_mtb(moved(bracket, shifts), cut=False).aligned
        assert full.shape == bracket.shape

    def test_uint8_equals_float(self, bracket):
        stack = moved(bracket, [(2, 2), (0, 0), (-1, 4)])
        codes = (stack * 255).round().to(torch.uint8)
        ours = align_mtb(codes)
        assert torch.equal(ours.shifts, align_mtb(stack).shifts)
        assert ours.aligned.dtype == torch.uint8

    def test_same_shifts_as_opencv(self, bracket):
        """OpenCV's AlignMTB (given RGB frames, so its grey matches) finds the same shifts, default parameters."""
        cv2 = pytest.importorskip("cv2")
        np = pytest.importorskip("numpy")
        for shifts in ([(3, -7), (0, 0), (-5, 11)], [(9, 1), (0, 0), (0, -2)]):
            codes = (moved(bracket, shifts) * 255).round().to(torch.uint8)
            frames = [np.ascontiguousarray(f.permute(1, 2, 0).numpy()) for f in codes]
            mtb = cv2.createAlignMTB()
            base = cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY)
            theirs = [list(mtb.calculateShift(base, cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)))[::-1] for f in frames]
            theirs[1] = [0, 0]  # OpenCV's process() leaves the middle frame alone, as align_mtb
            assert align_mtb(codes).shifts.tolist() == theirs

    def test_max_bits_limits_the_search(self, bracket):
        stack = moved(bracket, [(0, 40), (0, 0), (0, 0)])  # 40 px: beyond 2**5 - 1
        assert align_mtb(stack).shifts[0].tolist() == [0, -40]
        assert align_mtb(stack, max_bits=5).shifts[0, 1].abs() <= 31

    def test_exceptions(self, bracket):
        with pytest.raises(ShapeError):
            align_mtb(bracket[None])
        with pytest.raises(ShapeError):
            align_mtb(bracket[:, :2])
        with pytest.raises(DTypeError):
            align_mtb((bracket * 255).to(torch.int32))
        with pytest.raises(RangeError):
            align_mtb(bracket * 2)
        with pytest.raises(RangeError):
            align_mtb(bracket, max_bits=0)
        with pytest.raises(DTypeError):
            align_mtb(bracket, exclude_range=1.5)
