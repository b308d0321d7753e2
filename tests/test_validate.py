"""hdrlab.validate: every typed error, with expected/got/fix messages."""

import pytest
import torch

from hdrlab import validate
from hdrlab.errors import DTypeError, ExposureError, HdrlabError, RangeError, ShapeError


class TestCheckImage:
    def test_accepts_batches(self):
        validate.check_image(torch.rand(2, 5, 3, 4, 4))

    @pytest.mark.parametrize("shape", [(4, 4), (4, 4, 3), (1, 4, 4), (2, 4, 4)])
    def test_shape(self, shape):
        with pytest.raises(ShapeError, match=r"\(\*, 3, H, W\)"):
            validate.check_image(torch.rand(shape))

    def test_dtype(self):
        with pytest.raises(DTypeError, match="floating-point"):
            validate.check_image(torch.zeros(3, 2, 2, dtype=torch.uint8))

    def test_not_a_tensor(self):
        with pytest.raises(DTypeError, match="torch.Tensor"):
            validate.check_image([[0.0]])

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite(self, bad):
        x = torch.rand(3, 2, 2)
        x[0, 0, 0] = bad
        with pytest.raises(RangeError, match="1 NaN/inf"):
            validate.check_image(x)


class TestCheckLdr:
    @pytest.mark.parametrize("value", [-0.01, 1.01])
    def test_range(self, value):
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            validate.check_ldr(torch.full((3, 2, 2), value))

    def test_bounds_inclusive(self):
        validate.check_ldr(torch.stack([torch.zeros(2, 2), torch.ones(2, 2), torch.zeros(2, 2)]))


class TestCheckRadiance:
    def test_unbounded_above(self):
        validate.check_radiance(torch.full((3, 2, 2), 1e6))

    def test_negative(self):
        x = torch.ones(3, 2, 2)
        x[1, 1, 1] = -2
        with pytest.raises(RangeError, match="1 negative values"):
            validate.check_radiance(x)


class TestCheckExposureTimes:
    def test_ok(self):
        validate.check_exposure_times(torch.tensor([0.25, 0.5, 1.0]), n=3)
        validate.check_exposure_times(torch.tensor([[0.25, 0.5], [1.0, 2.0]]))

    @pytest.mark.parametrize("times", [[0.0, 1.0], [-1.0, 1.0], [float("nan"), 1.0]])
    def test_non_positive(self, times):
        with pytest.raises(ExposureError, match="> 0 in seconds"):
            validate.check_exposure_times(torch.tensor(times))

    @pytest.mark.parametrize("times", [[1.0, 0.5], [1.0, 1.0]])
    def test_unsorted(self, times):
        with pytest.raises(ExposureError, match="ascending"):
            validate.check_exposure_times(torch.tensor(times))

    def test_count(self):
        with pytest.raises(ExposureError, match="one per image"):
            validate.check_exposure_times(torch.tensor([0.5, 1.0]), n=3)

    def test_shape(self):
        with pytest.raises(ShapeError):
            validate.check_exposure_times(torch.ones(1, 1, 2))


class TestCheckStack:
    def test_ok(self):
        validate.check_stack(torch.rand(2, 3, 3, 4, 4), torch.tensor([[1.0, 2.0, 4.0], [0.5, 1.0, 2.0]]))

    def test_mismatched_count(self):
        with pytest.raises(ExposureError):
            validate.check_stack(torch.rand(3, 3, 4, 4), torch.tensor([1.0, 2.0]))

    def test_mismatched_batch(self):
        with pytest.raises(ShapeError, match="one row of times per stack"):
            validate.check_stack(torch.rand(2, 2, 3, 4, 4), torch.ones(3, 2).cumsum(-1))

    def test_rows_of_times_for_a_single_stack(self):
        with pytest.raises(ShapeError, match="single stack"):
            validate.check_stack(torch.rand(2, 3, 4, 4), torch.tensor([[1.0, 2.0]]))

    def test_single_image_is_not_a_stack(self):
        with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
            validate.check_stack(torch.rand(3, 4, 4), torch.tensor([1.0, 2.0, 3.0]))

    def test_linear_stack(self):
        validate.check_stack(torch.rand(2, 3, 4, 4) * 10, torch.tensor([1.0, 2.0]), ldr=False)


class TestScalarsAndSequences:
    @pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
    def test_check_positive(self, bad):
        with pytest.raises(RangeError):
            validate.check_positive(bad, "white")

    def test_check_positive_type(self):
        with pytest.raises(DTypeError):
            validate.check_positive("1", "white")

    def test_check_nonnegative(self):
        assert validate.check_nonnegative(0, "tolerance") == 0.0
        with pytest.raises(RangeError):
            validate.check_nonnegative(-1e-9, "tolerance")
        with pytest.raises(RangeError):
            validate.check_nonnegative(float("inf"), "tolerance")
        with pytest.raises(DTypeError):
            validate.check_nonnegative(True, "tolerance")

    def test_as_float_tensor(self):
        assert validate.as_float_tensor([1, 2], "evs").dtype == torch.float32
        with pytest.raises(DTypeError, match="sequence of numbers"):
            validate.as_float_tensor(["a"], "evs")


def test_every_error_is_an_hdrlab_error_and_a_builtin():
    for cls in (ShapeError, RangeError, ExposureError):
        assert issubclass(cls, HdrlabError) and issubclass(cls, ValueError)
    assert issubclass(DTypeError, TypeError)


class TestCheckInt:
    def test_returns_the_value(self):
        assert validate.check_int(0, "seed", 0) == 0

    @pytest.mark.parametrize("value, error", [(True, DTypeError), (2.0, DTypeError), ("3", DTypeError),
                                              (-1, RangeError)])
    def test_rejects(self, value, error):
        with pytest.raises(error, match="seed"):
            validate.check_int(value, "seed", 0)


class TestScalarsAndFlags:
    @pytest.mark.parametrize("value, error", [(True, DTypeError), ("1", DTypeError), (None, DTypeError),
                                              ([1.0], DTypeError), (float("nan"), RangeError),
                                              (float("inf"), RangeError)])
    def test_check_number_rejects(self, value, error):
        with pytest.raises(error, match="percentile"):
            validate.check_number(value, "percentile")

    @pytest.mark.parametrize("value", ["no", None, 0, 1, [0], 1.0])
    def test_check_bool_rejects_what_only_looks_like_a_flag(self, value):
        with pytest.raises(DTypeError, match="clip as True or False"):
            validate.check_bool(value, "clip")

    @pytest.mark.parametrize("value", [0, "seed", 1.5])
    def test_check_generator_rejects(self, value):
        with pytest.raises(DTypeError, match="torch.Generator"):
            validate.check_generator(value)
        validate.check_generator(None)
