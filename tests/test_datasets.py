"""Tests for hdrlab.data.datasets: simulated LDR/HDR pairs, exposure pairs, brackets and meta-learning tasks."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from hdrlab.data import datasets
from hdrlab.data.datasets import (
    DRTMO_EVS,
    DRTMO_T_REF,
    DRTMO_TIMES,
    BracketStacks,
    ExposurePairs,
    LDRHDRPairs,
    MetaTasks,
    SceneCrops,
    item_generator,
    simulate_drtmo_stack,
)
from hdrlab.data.scenes import load_scene, split_scenes
from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError
from hdrlab.imaging.camera import NoiseModel
from hdrlab.imaging.crf import log_inverse_response
from hdrlab.imaging.merge import merge_debevec
from hdrlab.imaging.tonemap import log_average_luminance, srgb_encode

SCENE = "pmndrs_sky"  # 256 x 512 panorama: 32 x 64 at max_side=64
SMALL = {"size": 16, "max_side": 64, "samples": 8}
LINEAR = {**SMALL, "crfs": ("linear",), "bits": None}
ALL = (SceneCrops, LDRHDRPairs, ExposurePairs, BracketStacks, MetaTasks)


def assert_items_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def dihedral(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips/rotations of a square image."""
    return [torch.rot90(view, k, dims=(-2, -1)) for view in (image, image.flip(-1)) for k in range(4)]


class TestConstants:
    def test_drtmo_exposures(self):
        assert DRTMO_EVS == (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
        expected = torch.exp2(torch.linspace(-10, -6, 9, dtype=torch.float64))
        assert torch.equal(torch.tensor(DRTMO_TIMES, dtype=torch.float64), expected)
        assert DRTMO_T_REF == DRTMO_TIMES[4] == 1 / 256

    def test_default_crfs_exist(self):
        assert SceneCrops([SCENE], **SMALL).crfs == list(datasets.DEFAULT_CRFS)


class TestItemGenerator:
    def test_reproducible_and_distinct(self):
        keys = [(seed, index) for seed in (0, 1) for index in (0, 1)]
        draws = {key: torch.rand(4, generator=item_generator(*key)) for key in keys}
        assert torch.equal(draws[0, 0], torch.rand(4, generator=item_generator(0, 0)))
        values = list(draws.values())
        assert all(not torch.equal(values[i], values[j]) for i in range(4) for j in range(i + 1, 4))

    @pytest.mark.parametrize(
        ("seed", "index", "error"), [(-1, 0, RangeError), (0, 1.0, DTypeError), (True, 0, DTypeError)]
    )
    def test_errors(self, seed, index, error):
        with pytest.raises(error):
            item_generator(seed, index)


class TestSimulateDrtmoStack:
    def test_known_values_linear(self):
        radiance = torch.rand(3, 4, 5) * 4
        stack, times = simulate_drtmo_stack(radiance, "linear", t_ref=0.5, bits=None)
        assert stack.shape == (9, 3, 4, 5)
        for k, ev in enumerate(DRTMO_EVS):
            assert torch.allclose(stack[k], (radiance * 0.5 * 2**ev).clamp(0, 1), atol=1e-6)
        assert torch.allclose(times, 0.5 * torch.exp2(torch.tensor(DRTMO_EVS)))

    def test_units_give_the_same_images(self):
        radiance = torch.rand(2, 3, 4, 4) * 10
        stack_ev, times_ev = simulate_drtmo_stack(radiance, "film-soft", unit="ev")
        stack_s, times_s = simulate_drtmo_stack(radiance, "film-soft", unit="s")
        assert stack_ev.shape == (2, 9, 3, 4, 4) and times_ev.shape == times_s.shape == (2, 9)
        assert torch.equal(stack_ev, stack_s)
        assert torch.equal(times_s, torch.tensor(DRTMO_TIMES).expand(2, 9))
        ratios = times_ev / torch.exp2(torch.tensor(DRTMO_EVS))  # t_ref per image (auto exposure)
        assert torch.allclose(ratios, ratios[:, :1].expand(2, 9))

    def test_errors(self):
        radiance = torch.rand(3, 4, 4)
        with pytest.raises(ChoiceError):
            simulate_drtmo_stack(radiance, unit="stops")
        with pytest.raises(RangeError):
            simulate_drtmo_stack(radiance, t_ref=-1.0)
        with pytest.raises(DTypeError):
            simulate_drtmo_stack(radiance, t_ref="fast")
        with pytest.raises(ShapeError):
            simulate_drtmo_stack(torch.rand(1, 1, 3, 4, 4))


class TestSceneCrops:
    def test_splits(self):
        split = split_scenes(seed=0)
        assert SceneCrops("val", **SMALL).scenes == split["val"]
        assert not set(SceneCrops("train", **SMALL).scenes) & set(SceneCrops("test", **SMALL).scenes)

    def test_scenes_visited_in_turn(self):
        crops = SceneCrops(["pmndrs_sky", "room_windows"], **SMALL)
        assert [crops[i]["scene"] for i in range(4)] == ["pmndrs_sky", "room_windows"] * 2
        assert len(crops) == 8

    def test_crop_is_a_transformed_window_of_the_scene(self):
        radiance = load_scene(SCENE, max_side=64)
        windows = radiance.unfold(1, 16, 1).unfold(2, 16, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, 16, 16)
        windows = windows / windows.sum(dim=(1, 2, 3), keepdim=True)
        crops = SceneCrops([SCENE], **{**SMALL, "samples": 24})
        used = set()
        for i in range(len(crops)):
            hdr = crops[i]["hdr"]
            errors = [float((windows - view / view.sum()).abs().amax(dim=(1, 2, 3)).min()) for view in dihedral(hdr)]
            assert min(errors) < 1e-6
            used.add(errors.index(min(errors)))
        assert len(used) > 1  # flips and rotations happen

    def test_fixed_tiles_without_augment(self):
        radiance = load_scene(SCENE, max_side=64)  # 32 x 64: a 2 x 4 grid of 16-pixel tiles
        pairs = LDRHDRPairs([SCENE], **{**SMALL, "augment": False})
        for index, (top, left) in enumerate([(0, 0), (0, 16), (0, 32), (0, 48), (16, 0)]):
            item = pairs[index]
            window = radiance[:, top : top + 16, left : left + 16]
            assert torch.allclose(item["hdr"], window * item["time"], rtol=1e-5)

    def test_hdr_scale_is_auto_exposure(self):
        item = SceneCrops([SCENE], **SMALL)[3]
        assert float(log_average_luminance(item["hdr"]).flatten()[0]) == pytest.approx(0.18, rel=1e-4)

    def test_item_depends_on_seed_and_index_only(self):
        first, second = BracketStacks([SCENE], **SMALL), BracketStacks([SCENE], **SMALL)
        assert_items_equal(first[5], second[5])
        assert_items_equal(first[5], first[-3])
        assert not torch.equal(first[4]["hdr"], first[5]["hdr"])
        assert not torch.equal(first[5]["hdr"], BracketStacks([SCENE], **SMALL, seed=1)[5]["hdr"])

    def test_global_rng_untouched(self):
        state = torch.get_rng_state()
        ExposurePairs([SCENE], **SMALL)[0]
        assert torch.equal(state, torch.get_rng_state())

    def test_multi_worker_loading_matches(self):
        pairs = LDRHDRPairs([SCENE], **SMALL)
        serial = next(iter(DataLoader(pairs, batch_size=8)))
        parallel = torch.cat([batch["ldr"] for batch in DataLoader(pairs, batch_size=2, num_workers=2)])
        assert serial["ldr"].shape == (8, 3, 16, 16)
        assert torch.equal(serial["ldr"], parallel)

    def test_noise_is_reproducible(self):
        noisy = LDRHDRPairs([SCENE], **SMALL, noise=NoiseModel.high_iso())
        clean = LDRHDRPairs([SCENE], **SMALL)
        assert torch.equal(noisy[2]["ldr"], noisy[2]["ldr"])
        assert torch.equal(noisy[2]["hdr"], clean[2]["hdr"])
        assert not torch.equal(noisy[2]["ldr"], clean[2]["ldr"])

    def test_iterates_and_stops(self):
        assert len(list(SceneCrops([SCENE], **{**SMALL, "samples": 3}))) == 3

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"scenes": "training"}, ChoiceError),
            ({"scenes": SCENE}, ChoiceError),  # one name must be a list
            ({"scenes": []}, ChoiceError),
            ({"scenes": ["no_such_scene"]}, ChoiceError),
            ({"crfs": ("kodak",)}, ChoiceError),
            ({"crfs": "srgb"}, ChoiceError),
            ({"crfs": ()}, ChoiceError),
            ({"bits": 9}, ChoiceError),
            ({"samples": 0}, RangeError),
            ({"samples": 2.0}, DTypeError),
            ({"size": 0}, RangeError),
            ({"max_side": 0}, RangeError),
            ({"seed": -1}, RangeError),
            ({"noise": 0.01}, DTypeError),
            ({"augment": 1}, DTypeError),
            ({"size": 40}, ShapeError),  # the scene is 32 x 64 at max_side=64
        ],
    )
    @pytest.mark.parametrize("dataset", ALL)
    def test_constructor_errors(self, dataset, kwargs, error):
        arguments = {"scenes": [SCENE], **SMALL, **kwargs}
        with pytest.raises(error):
            dataset(arguments.pop("scenes"), **arguments)

    def test_too_small_message_names_the_fix(self):
        with pytest.raises(ShapeError, match="raise max_side"):
            SceneCrops([SCENE], size=40, max_side=64)

    def test_index_errors(self):
        crops = SceneCrops([SCENE], **SMALL)
        with pytest.raises(IndexError):
            crops[8]
        with pytest.raises(IndexError):
            crops[-9]
        with pytest.raises(DTypeError):
            crops["0"]


class TestLDRHDRPairs:
    def test_keys_and_shapes(self):
        item = LDRHDRPairs([SCENE], **SMALL, evs=(-1.0, 1.0))[0]
        assert set(item) == {"ldr", "hdr", "time", "ev", "scene", "crf"}
        assert item["ldr"].shape == item["hdr"].shape == (3, 16, 16)
        assert item["time"].shape == item["ev"].shape == ()
        assert float(item["ev"]) in (-1.0, 1.0)
        assert item["crf"] in datasets.DEFAULT_CRFS and item["scene"] == SCENE

    def test_target_is_the_shots_own_exposure(self):
        pairs = LDRHDRPairs([SCENE], **LINEAR, evs=(-2.0, 2.0))
        for index in range(4):
            item = pairs[index]
            assert torch.allclose(item["ldr"], item["hdr"].clamp(0, 1))
            scale = log_average_luminance(item["hdr"] / 2 ** float(item["ev"])).flatten()[0]
            assert float(scale) == pytest.approx(0.18, rel=1e-4)  # hdr = radiance * t_ref * 2**ev

    def test_srgb_quantised(self):
        item = LDRHDRPairs([SCENE], **SMALL, crfs=("srgb",))[1]
        expected = torch.round(srgb_encode(item["hdr"].clamp(0, 1)) * 255) / 255
        assert torch.allclose(item["ldr"], expected, atol=1e-6)

    def test_evs_errors(self):
        with pytest.raises(ExposureError):
            LDRHDRPairs([SCENE], **SMALL, evs=(0.0, 0.0))
        with pytest.raises(ExposureError):
            LDRHDRPairs([SCENE], **SMALL, evs=(float("nan"),))
        with pytest.raises(ShapeError):
            LDRHDRPairs([SCENE], **SMALL, evs=())
        with pytest.raises(DTypeError):
            LDRHDRPairs([SCENE], **SMALL, evs=("zero",))


class TestExposurePairs:
    def test_pairs_respect_gaps_and_both_directions(self):
        pairs = ExposurePairs([SCENE], **{**LINEAR, "samples": 24}, min_gap=1.0, max_gap=2.0)
        directions = set()
        for index in range(len(pairs)):
            item = pairs[index]
            ev_a, ev_b = float(item["ev_a"]), float(item["ev_b"])
            assert 1.0 <= abs(ev_a - ev_b) <= 2.0 and ev_a in DRTMO_EVS and ev_b in DRTMO_EVS
            directions.add(ev_b > ev_a)
            assert torch.allclose(item["ldr_a"], (item["hdr"] * 2**ev_a).clamp(0, 1))
            assert torch.allclose(item["ldr_b"], (item["hdr"] * 2**ev_b).clamp(0, 1))
            assert float(item["time_b"] / item["time_a"]) == pytest.approx(2 ** (ev_b - ev_a), rel=1e-5)
        assert directions == {True, False}

    def test_all_ordered_pairs(self):
        pairs = ExposurePairs([SCENE], **SMALL, evs=(-1.0, 0.0, 1.0), min_gap=0.0)
        assert sorted(pairs.pairs) == [(-1.0, 0.0), (-1.0, 1.0), (0.0, -1.0), (0.0, 1.0), (1.0, -1.0), (1.0, 0.0)]

    @pytest.mark.parametrize(
        "kwargs", [{"min_gap": 5.0}, {"min_gap": 1.0, "max_gap": 0.5}, {"min_gap": -1.0}, {"evs": (0.0,)}]
    )
    def test_gap_errors(self, kwargs):
        with pytest.raises(RangeError):
            ExposurePairs([SCENE], **SMALL, **kwargs)


class TestBracketStacks:
    def test_drtmo_default(self):
        item = BracketStacks([SCENE], **SMALL)[0]
        assert item["stack"].shape == (9, 3, 16, 16) and item["hdr"].shape == (3, 16, 16)
        assert torch.equal(item["evs"], torch.tensor(DRTMO_EVS))
        t_ref = item["times"] / torch.exp2(item["evs"])
        assert torch.allclose(t_ref, t_ref[:1].expand(9))

    def test_seconds_unit(self):
        relative = BracketStacks([SCENE], **SMALL)[2]
        absolute = BracketStacks([SCENE], **SMALL, unit="s")[2]
        assert torch.equal(absolute["times"], torch.tensor(DRTMO_TIMES))
        assert torch.equal(relative["stack"], absolute["stack"]) and torch.equal(relative["hdr"], absolute["hdr"])

    def test_merge_recovers_hdr(self):
        item = BracketStacks([SCENE], **{**SMALL, "crfs": ("linear",)}, evs=(-4.0, -2.0, 0.0, 2.0, 4.0))[0]
        merged = merge_debevec(item["stack"], item["times"], log_inverse_response("linear"))
        t_ref = float(item["times"][2])
        recovered = merged * t_ref * (128 / 255)  # g is anchored at code 128
        lit = (item["hdr"] > 0.05) & (item["hdr"] < 8.0)
        assert lit.float().mean() > 0.5
        assert torch.allclose(recovered[lit], item["hdr"][lit], rtol=0.03)

    def test_errors(self):
        with pytest.raises(ExposureError):
            BracketStacks([SCENE], **SMALL, evs=(0.0, -1.0))
        with pytest.raises(ChoiceError):
            BracketStacks([SCENE], **SMALL, unit="min")


class TestMetaTasks:
    def test_fixed_split_without_augment(self):
        task = MetaTasks([SCENE], **{**LINEAR, "augment": False})[0]
        assert task["support_ev"].tolist() == [-2.0, 2.0] and task["query_ev"].tolist() == [0.0]
        assert task["support_ldr"].shape == task["support_hdr"].shape == (2, 3, 16, 16)
        assert task["query_ldr"].shape == task["query_hdr"].shape == (1, 3, 16, 16)
        hdr = task["query_hdr"][0]
        assert torch.equal(task["support_hdr"], hdr.expand(2, 3, 16, 16))
        assert torch.allclose(task["query_ldr"][0], hdr.clamp(0, 1))
        assert torch.allclose(task["support_ldr"][1], (hdr * 4).clamp(0, 1))

    def test_nearest_support(self):
        task = MetaTasks([SCENE], **{**SMALL, "augment": False}, evs=(-2.0, -1.0, 0.0, 1.0, 2.0), support=2)[1]
        assert task["support_ev"].tolist() == [-1.0, 1.0] and task["query_ev"].tolist() == [0.0]

    def test_random_query_with_augment(self):
        tasks = MetaTasks([SCENE], **{**SMALL, "samples": 16}, evs=(-2.0, -1.0, 0.0, 1.0, 2.0), support=3)
        queries = set()
        for index in range(len(tasks)):
            task = tasks[index]
            support, query = task["support_ev"].tolist(), float(task["query_ev"])
            assert len(support) == 3 and query not in support and support == sorted(support)
            queries.add(query)
        assert len(queries) > 1

    def test_errors(self):
        with pytest.raises(RangeError):
            MetaTasks([SCENE], **SMALL, support=3)
        with pytest.raises(RangeError):
            MetaTasks([SCENE], **SMALL, support=0)
        with pytest.raises(ExposureError):
            MetaTasks([SCENE], **SMALL, evs=(0.0,))
        with pytest.raises(ExposureError):
            MetaTasks([SCENE], **SMALL, evs=(2.0, 0.0, -2.0))


def test_defaults():
    pairs = LDRHDRPairs("val")
    item = pairs[0]
    assert len(pairs) == 1024 and pairs.size == 128 and pairs.max_side == 512 and pairs.evs == (0.0,)
    assert item["ldr"].shape == (3, 128, 128) and float(item["ev"]) == 0.0
