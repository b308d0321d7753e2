"""Tests for hdrlab.data.scenes: the embedded HDR scenes, resizing, crops, splits, dynamic range."""

from __future__ import annotations

import dataclasses
import math

import cv2
import pytest
import torch

from hdrlab.data import scenes
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError
from hdrlab.io import read_hdr

# Same location in both Poly Haven sources (the studio pair is the same room under other lamps).
DUPLICATE_PAIRS = [
    ("blender_sunrise", "pmndrs_sunrise"),
    ("blender_sunset", "pmndrs_venice"),
    ("blender_studio", "pmndrs_studio"),
]


def longitude_panorama(height: int = 64) -> torch.Tensor:
    """(3, H, 2H) panorama coloured by longitude: R = 1 + cos(lon), G = 1 + sin(lon), B = 1."""
    width = 2 * height
    longitude = ((torch.arange(width) + 0.5) / width - 0.5) * 2 * math.pi
    rows = torch.stack([1 + torch.cos(longitude), 1 + torch.sin(longitude), torch.ones(width)])
    return rows[:, None, :].expand(3, height, width).contiguous()


def latitude_panorama(height: int = 64) -> torch.Tensor:
    """(3, H, 2H) panorama whose every channel is the latitude in degrees + 90."""
    latitude = (0.5 - (torch.arange(height) + 0.5) / height) * 180
    return (latitude + 90)[None, :, None].expand(3, height, 2 * height).contiguous()


class TestDataDir:
    def test_default_is_repository_data(self, monkeypatch):
        monkeypatch.delenv(scenes.DATA_VARIABLE, raising=False)
        folder = scenes.data_dir()
        assert folder.name == "data"
        assert len(list(folder.glob("*.exr"))) == 27
        assert (folder / "LICENSES.md").is_file()

    def test_environment_variable(self, monkeypatch, tmp_path):
        monkeypatch.setenv(scenes.DATA_VARIABLE, str(tmp_path))
        assert scenes.data_dir() == tmp_path

    def test_missing_folder(self, monkeypatch, tmp_path):
        monkeypatch.setenv(scenes.DATA_VARIABLE, str(tmp_path / "nowhere"))
        with pytest.raises(MissingFileError, match="HDRLAB_DATA"):
            scenes.data_dir()


class TestListScenes:
    def test_counts(self):
        assert len(scenes.list_scenes()) == 27
        assert len(scenes.list_scenes("panorama")) == 26
        assert scenes.list_scenes("photo") == ["room_windows"]

    def test_sorted_and_matches_files(self):
        names = scenes.list_scenes()
        assert names == sorted(names)
        assert names == sorted(path.stem for path in scenes.data_dir().glob("*.exr"))

    def test_bad_kind(self):
        with pytest.raises(ChoiceError, match="panorama"):
            scenes.list_scenes("video")


class TestSceneInfo:
    def test_fields(self):
        info = scenes.scene_info("room_windows")
        assert (info.kind, info.source, info.licence, info.duplicate_group) == ("photo", "libjxl", "BSD-3-Clause", None)
        assert info.path.is_absolute() and info.path.is_file()

    def test_duplicate_groups(self):
        for first, second in DUPLICATE_PAIRS:
            group = scenes.scene_info(first).duplicate_group
            assert group is not None and group == scenes.scene_info(second).duplicate_group

    def test_licences(self):
        for name in scenes.list_scenes("panorama"):
            assert scenes.scene_info(name).licence == "CC0-1.0"

    def test_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            scenes.scene_info("pmndrs_sky").name = "x"

    def test_unknown_name_lists_available(self):
        with pytest.raises(ChoiceError, match="pmndrs_sky"):
            scenes.scene_info("pmndrs_skies")
        with pytest.raises(ChoiceError):
            scenes.scene_info(["pmndrs_sky"])


class TestLoadScene:
    def test_smoke_all_scenes(self):
        for name in scenes.list_scenes():
            radiance = scenes.load_scene(name, max_side=16)
            assert radiance.dtype == torch.float32
            assert radiance.shape[0] == 3 and max(radiance.shape[1:]) == 16
            assert bool(torch.isfinite(radiance).all()) and radiance.min() >= 0

    def test_panoramas_are_two_to_one(self):
        for name in scenes.list_scenes("panorama"):
            assert scenes.load_scene(name, max_side=16).shape == (3, 8, 16)

    def test_negative_pixels_clamped_for_lossy_sources(self):
        for name in ("pmndrs_esplanade", "blender_sunset"):
            raw = read_hdr(scenes.scene_info(name).path)
            assert raw.min() < 0
            assert torch.equal(scenes.load_scene(name), raw.clamp_min(0))

    def test_lossless_source_unchanged(self):
        assert torch.equal(scenes.load_scene("room_windows"), read_hdr(scenes.scene_info("room_windows").path))

    def test_non_finite_zeroed_for_lossy_sources(self, monkeypatch):
        bad = torch.ones(3, 2, 4)
        bad[0, 0, 0], bad[1, 0, 1], bad[2, 1, 0], bad[0, 1, 1] = float("nan"), float("inf"), -float("inf"), -5.0
        monkeypatch.setattr(scenes, "read_hdr", lambda path: bad.clone())
        scenes._load_full.cache_clear()
        try:
            radiance = scenes.load_scene("pmndrs_park")
            assert radiance.sum() == 24 - 4
            with pytest.raises(RangeError):  # lossless sources are never clamped silently
                scenes.load_scene("room_windows")
        finally:
            scenes._load_full.cache_clear()

    def test_downsampling_preserves_mean(self):
        full = scenes.load_scene("pmndrs_venice")
        small = scenes.load_scene("pmndrs_venice", max_side=40)
        assert small.shape == (3, 20, 40)
        assert torch.allclose(small.mean(dim=(1, 2)), full.mean(dim=(1, 2)), rtol=1e-4)

    def test_never_upsamples(self):
        assert scenes.load_scene("pmndrs_sky", max_side=4096).shape == (3, 256, 512)

    def test_returns_a_copy(self):
        first = scenes.load_scene("pmndrs_sky")
        first.zero_()
        assert scenes.load_scene("pmndrs_sky").max() > 0

    def test_bad_max_side(self):
        with pytest.raises(RangeError):
            scenes.load_scene("pmndrs_sky", max_side=0)
        with pytest.raises(DTypeError):
            scenes.load_scene("pmndrs_sky", max_side=32.0)

    def test_unknown_name(self):
        with pytest.raises(ChoiceError):
            scenes.load_scene("nope")

    def test_missing_file(self, monkeypatch, tmp_path):
        monkeypatch.setenv(scenes.DATA_VARIABLE, str(tmp_path))
        with pytest.raises(MissingFileError, match="pmndrs_sky.exr"):
            scenes.load_scene("pmndrs_sky")


class TestResizeArea:
    def test_shapes(self):
        assert scenes.resize_area(torch.rand(3, 10, 20), (5, 7)).shape == (3, 5, 7)
        assert scenes.resize_area(torch.rand(2, 4, 3, 10, 20), (3, 3)).shape == (2, 4, 3, 3, 3)

    def test_known_values(self):
        image = torch.arange(16.0).view(1, 4, 4).expand(3, 4, 4)
        assert scenes.resize_area(image, (2, 2))[0].tolist() == [[2.5, 4.5], [10.5, 12.5]]

    @pytest.mark.parametrize("size", [(1, 1), (5, 9), (7, 13), (16, 32)])
    def test_preserves_mean(self, size):
        image = torch.exp2(torch.randn(3, 17, 33) * 4)
        assert torch.allclose(scenes.resize_area(image, size).mean(), image.mean(), rtol=1e-5)

    def test_matches_opencv_inter_area(self):
        image = torch.rand(3, 20, 30)
        ours = scenes.resize_area(image, (7, 11))
        theirs = cv2.resize(image.permute(1, 2, 0).numpy(), (11, 7), interpolation=cv2.INTER_AREA)
        assert torch.allclose(ours, torch.from_numpy(theirs).permute(2, 0, 1), atol=1e-5)

    def test_stays_within_the_input_range(self):
        """An all-white LDR's weighted means round to 1 + 1.2e-7 at 20 x 71 -> 6 x 23; the result must stay <= 1."""
        white = torch.ones(3, 20, 71)
        rows, cols = scenes._area_weights(20, 6, white), scenes._area_weights(71, 23, white)
        assert float((rows @ white @ cols.T).max()) > 1  # the rounding resize_area removes
        assert float(scenes.resize_area(white, (6, 23)).max()) == 1.0
        stacked = scenes.resize_area(torch.stack([white, white * 8]), (6, 23))  # bounds per image and channel
        assert float(stacked[0].max()) == 1.0 and float(stacked[1].min()) > 7.99
        image = torch.rand(2, 3, 37, 53) * 5 + 1
        out = scenes.resize_area(image, (11, 17))
        assert (out.amin((-2, -1)) >= image.amin((-2, -1))).all() and (out.amax((-2, -1)) <= image.amax((-2, -1))).all()
        # the rounding fix changes values only: the gradient is the area average's, also where values were fixed
        fixed = white.clone().requires_grad_(True)
        scenes.resize_area(fixed, (6, 23)).sum().backward()
        assert torch.allclose(fixed.grad, (rows.sum(0)[:, None] * cols.sum(0)[None, :]).expand(3, 20, 71))

    def test_same_size_is_identity(self):
        image = torch.rand(3, 5, 6)
        assert torch.allclose(scenes.resize_area(image, (5, 6)), image)

    def test_differentiable(self):
        image = torch.rand(3, 6, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: scenes.resize_area(x, (4, 5)), (image,))

    def test_upsampling_rejected(self):
        with pytest.raises(ShapeError, match="interpolate"):
            scenes.resize_area(torch.rand(3, 4, 4), (8, 4))

    def test_bad_size(self):
        with pytest.raises(ShapeError):
            scenes.resize_area(torch.rand(3, 4, 4), 2)
        with pytest.raises(RangeError):
            scenes.resize_area(torch.rand(3, 4, 4), (0, 2))
        with pytest.raises(DTypeError):
            scenes.resize_area(torch.rand(3, 4, 4), (2.0, 2))

    def test_bad_image(self):
        with pytest.raises(ShapeError):
            scenes.resize_area(torch.rand(4, 4), (2, 2))
        with pytest.raises(DTypeError):
            scenes.resize_area(torch.ones(3, 4, 4, dtype=torch.int64), (2, 2))
        with pytest.raises(RangeError):
            scenes.resize_area(torch.full((3, 4, 4), float("nan")), (2, 2))


class TestCenterCrop:
    def test_known_values(self):
        image = torch.arange(20.0).view(1, 4, 5).expand(3, 4, 5)
        assert scenes.center_crop(image, (2, 3))[0].tolist() == [[6.0, 7.0, 8.0], [11.0, 12.0, 13.0]]

    def test_batch_and_full_size(self):
        image = torch.rand(2, 3, 6, 8)
        assert scenes.center_crop(image, (3, 3)).shape == (2, 3, 3, 3)
        assert torch.equal(scenes.center_crop(image, (6, 8)), image)

    def test_too_large(self):
        with pytest.raises(ShapeError):
            scenes.center_crop(torch.rand(3, 4, 4), (5, 4))

    def test_bad_input(self):
        with pytest.raises(ShapeError):
            scenes.center_crop(torch.rand(3, 4, 4), (2, 2, 2))
        with pytest.raises(DTypeError):
            scenes.center_crop(torch.rand(3, 4, 4).numpy(), (2, 2))


class TestRandomCrop:
    def test_deterministic_with_generator(self):
        image = torch.rand(3, 20, 20)
        crops = [scenes.random_crop(image, (5, 6), torch.Generator().manual_seed(3)) for _ in range(2)]
        assert crops[0].shape == (3, 5, 6) and torch.equal(crops[0], crops[1])

    def test_crop_is_a_window_of_the_image(self):
        image = torch.arange(100.0).view(1, 10, 10).expand(3, 10, 10)
        generator = torch.Generator().manual_seed(0)
        for _ in range(20):
            crop = scenes.random_crop(image, (3, 4), generator)
            top, left = divmod(int(crop[0, 0, 0]), 10)
            assert torch.equal(crop, image[:, top : top + 3, left : left + 4])

    def test_covers_positions(self):
        generator = torch.Generator().manual_seed(0)
        image = torch.arange(4.0).view(1, 1, 4).expand(3, 1, 4)
        seen = {int(scenes.random_crop(image, (1, 2), generator)[0, 0, 0]) for _ in range(50)}
        assert seen == {0, 1, 2}

    def test_too_large(self):
        with pytest.raises(ShapeError):
            scenes.random_crop(torch.rand(3, 4, 4), (4, 5))

    def test_bad_generator(self):
        with pytest.raises(DTypeError):
            scenes.random_crop(torch.rand(3, 4, 4), (2, 2), generator=0)


class TestPerspectiveCrop:
    def test_shapes(self):
        panorama = torch.rand(3, 16, 32)
        assert scenes.perspective_crop(panorama, (9, 12)).shape == (3, 9, 12)
        assert scenes.perspective_crop(torch.rand(2, 3, 16, 32), (5, 5)).shape == (2, 3, 5, 5)

    @pytest.mark.parametrize("yaw", [0.0, 45.0, 90.0, -120.0, 270.0])
    def test_centre_colour_follows_yaw(self, yaw):
        view = scenes.perspective_crop(longitude_panorama(), (9, 9), fov_deg=60.0, yaw_deg=yaw)
        expected = torch.tensor([1 + math.cos(math.radians(yaw)), 1 + math.sin(math.radians(yaw)), 1.0])
        assert torch.allclose(view[:, 4, 4], expected, atol=2e-3)

    def test_right_of_image_is_larger_longitude(self):
        view = scenes.perspective_crop(longitude_panorama(), (9, 9), fov_deg=60.0)
        green = view[1, 4]  # 1 + sin(lon) increases with longitude around 0
        assert bool((green.diff() > 0).all())

    @pytest.mark.parametrize("pitch", [-60.0, 0.0, 30.0, 90.0])
    def test_centre_follows_pitch(self, pitch):
        view = scenes.perspective_crop(latitude_panorama(), (9, 9), fov_deg=30.0, pitch_deg=pitch)
        expected = min(pitch + 90, 180 - 90 / 64)  # the top row centre is the highest latitude sampled
        assert abs(float(view[0, 4, 4]) - expected) < 0.05

    def test_wrap_around_has_no_seam(self):
        panorama = torch.rand(3, 32, 64)
        behind = scenes.perspective_crop(panorama, (15, 15), fov_deg=90.0, yaw_deg=180.0)
        rolled = scenes.perspective_crop(torch.roll(panorama, 32, dims=-1), (15, 15), fov_deg=90.0, yaw_deg=0.0)
        assert torch.allclose(behind, rolled, atol=1e-4)

    def test_wrap_around_matches_analytic_colour(self):
        view = scenes.perspective_crop(longitude_panorama(), (9, 33), fov_deg=90.0, yaw_deg=180.0)
        # The middle row looks along the horizon: pixel x sees longitude 180 deg + atan(x / focal).
        offsets = torch.arange(33, dtype=torch.float64) + 0.5 - 33 / 2
        longitude = math.pi + torch.atan(offsets / (33 / 2))
        assert torch.allclose(view[1, 4].double(), 1 + torch.sin(longitude), atol=1e-3)

    def test_constant_panorama_stays_constant(self):
        view = scenes.perspective_crop(torch.full((3, 8, 16), 7.5), (6, 6), fov_deg=120.0, pitch_deg=-90.0)
        assert torch.allclose(view, torch.full_like(view, 7.5))

    def test_real_scene(self):
        radiance = scenes.load_scene("pmndrs_park", max_side=128)
        view = scenes.perspective_crop(radiance, (24, 32), fov_deg=75.0, yaw_deg=30.0, pitch_deg=10.0)
        assert view.shape == (3, 24, 32) and view.min() >= 0

    @pytest.mark.parametrize("fov", [0.0, 180.0, -10.0, 200.0])
    def test_bad_fov(self, fov):
        with pytest.raises(RangeError, match="fov_deg"):
            scenes.perspective_crop(torch.rand(3, 8, 16), (4, 4), fov_deg=fov)

    def test_bad_angles(self):
        with pytest.raises(RangeError, match="pitch_deg"):
            scenes.perspective_crop(torch.rand(3, 8, 16), (4, 4), pitch_deg=91.0)
        with pytest.raises(RangeError, match="yaw_deg"):
            scenes.perspective_crop(torch.rand(3, 8, 16), (4, 4), yaw_deg=float("nan"))
        with pytest.raises(DTypeError):
            scenes.perspective_crop(torch.rand(3, 8, 16), (4, 4), fov_deg="90")

    def test_not_a_panorama(self):
        with pytest.raises(ShapeError, match="width = 2 x height"):
            scenes.perspective_crop(scenes.load_scene("room_windows", max_side=32), (4, 4))

    def test_bad_size(self):
        with pytest.raises(ShapeError):
            scenes.perspective_crop(torch.rand(3, 8, 16), 4)


class TestSplitScenes:
    def test_deterministic(self):
        assert scenes.split_scenes(seed=5) == scenes.split_scenes(seed=5)
        assert scenes.split_scenes(seed=5) != scenes.split_scenes(seed=6)

    def test_partition_and_duplicates_together(self):
        for seed in range(40):
            split = scenes.split_scenes(seed=seed)
            names = [name for key in scenes.SPLITS for name in split[key]]
            assert sorted(names) == scenes.list_scenes()
            assert all(split[key] for key in scenes.SPLITS)
            side = {name: key for key in scenes.SPLITS for name in split[key]}
            for first, second in DUPLICATE_PAIRS:
                assert side[first] == side[second]

    def test_default_sizes(self):
        assert [len(scenes.split_scenes()[key]) for key in scenes.SPLITS] == [19, 4, 4]

    def test_zero_fraction_gives_empty_split(self):
        split = scenes.split_scenes(fractions=(0.8, 0.2, 0.0))
        assert split["test"] == [] and len(split["train"]) + len(split["val"]) == 27

    def test_bad_fractions(self):
        with pytest.raises(RangeError, match="sum to 1"):
            scenes.split_scenes(fractions=(0.7, 0.2, 0.2))
        with pytest.raises(RangeError):
            scenes.split_scenes(fractions=(1.1, -0.05, -0.05))
        with pytest.raises(DTypeError):
            scenes.split_scenes(fractions=(0.5, 0.5))
        with pytest.raises(RangeError, match="at least one scene"):
            scenes.split_scenes(fractions=(0.99, 0.005, 0.005))

    def test_bad_seed(self):
        with pytest.raises(ChoiceError):
            scenes.split_scenes(seed=-1)


class TestDynamicRangeStops:
    def test_known_value(self):
        image = torch.ones(3, 4, 4)
        image[:, :2] = 256.0
        assert scenes.dynamic_range_stops(image, 0.0, 100.0) == 8.0

    def test_zeros_ignored_for_low_percentile(self):
        image = torch.ones(3, 4, 4)
        image[:, 0] = 0.0
        image[:, 1] = 32.0
        assert scenes.dynamic_range_stops(image, 0.0, 100.0) == 5.0

    def test_scale_invariant(self):
        radiance = scenes.load_scene("pmndrs_lab", max_side=64)
        stops = scenes.dynamic_range_stops(radiance)
        assert stops > 5
        assert math.isclose(scenes.dynamic_range_stops(radiance * 37.0), stops, rel_tol=1e-5)

    def test_batch_is_pooled(self):
        dark, bright = torch.ones(3, 2, 2), torch.full((3, 2, 2), 64.0)
        assert scenes.dynamic_range_stops(torch.stack([dark, bright]), 0.0, 100.0) == 6.0

    def test_all_black(self):
        with pytest.raises(RangeError, match="luminance > 0"):
            scenes.dynamic_range_stops(torch.zeros(3, 4, 4))

    def test_mostly_black(self):
        image = torch.zeros(3, 100, 100)
        image[:, 0, 0] = 1.0
        with pytest.raises(RangeError, match="almost all pixels are black"):
            scenes.dynamic_range_stops(image)

    def test_negative_radiance(self):
        with pytest.raises(RangeError):
            scenes.dynamic_range_stops(-torch.ones(3, 4, 4))

    @pytest.mark.parametrize("low, high", [(50.0, 50.0), (-1.0, 99.0), (1.0, 101.0), (90.0, 10.0)])
    def test_bad_percentiles(self, low, high):
        with pytest.raises(RangeError, match="percentiles"):
            scenes.dynamic_range_stops(torch.ones(3, 4, 4), low, high)
