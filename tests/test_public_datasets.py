"""Tests for hdrlab.data.public: loaders of the public datasets, on tiny fixture folders built here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hdrlab.data.datasets import DRTMO_TIMES
from hdrlab.data.public import DRTMO_FILES, VDS, VDS_EVS, DrTMOBrackets, HDREye, JangPairs, SingleHDRReal
from hdrlab.data.scenes import resize_area
from hdrlab.errors import (
    ChoiceError,
    DTypeError,
    ExposureError,
    FileFormatError,
    MissingFileError,
    RangeError,
    ShapeError,
)
from hdrlab.io import write_hdr, write_ldr
from hdrlab.validate import check_ldr

SIDE = 8


def flat(value: float, side: int = SIDE) -> torch.Tensor:
    return torch.full((3, side, side), float(value))


def ramp(side: int = SIDE) -> torch.Tensor:
    """Pixel (y, x) holds 1 + x + side * y in every channel: its value names its position."""
    return (1 + torch.arange(side * side, dtype=torch.float32)).view(1, side, side).expand(3, side, side).contiguous()


def code(value: int) -> float:
    return value / 255


def make_jang(root: Path, numbers=("002", "010", "001"), exposures=("-2", "0", "+2")) -> Path:
    """HDR_<n>.hdr holds int(n); LDR_exposure_<e>/LDR_<n>.jpg holds code 10 * int(n) + 60 * k (k: exposure index)."""
    (root / "HDR").mkdir(parents=True)
    for k, exposure in enumerate(exposures):
        (root / f"LDR_exposure_{exposure}").mkdir()
        for number in numbers:
            write_ldr(root / f"LDR_exposure_{exposure}" / f"LDR_{number}.jpg", flat(code(10 * int(number) + 60 * k)))
    for number in numbers:
        write_hdr(root / "HDR" / f"HDR_{number}.hdr", flat(int(number)))
    return root


def make_drtmo(root: Path, stacks=("hdr10_srgb", "hdr2_srgb")) -> Path:
    """<stack>/<letter>.png holds code 10 * k + s (k: file index, s: stack index)."""
    for s, stack in enumerate(stacks):
        (root / stack).mkdir(parents=True)
        for k, name in enumerate(DRTMO_FILES):
            write_ldr(root / stack / name, flat(code(10 * k + s)))
    return root


def make_vds(root: Path, scenes=("t10", "t2", "t1"), hdr_root: Path | None = None) -> Path:
    """<scene>/<scene>_<ev>EV_true.jpg.png holds code 100 + 20 * ev; the HDR holds the scene number."""
    for scene in scenes:
        (root / scene).mkdir(parents=True)
        for ev in VDS_EVS:
            write_ldr(root / scene / f"{scene}_{ev}EV_true.jpg.png", flat(code(100 + 20 * ev)))
        hdr_folder = (hdr_root or root) / scene
        hdr_folder.mkdir(parents=True, exist_ok=True)
        write_hdr(hdr_folder / "target_hdr.hdr", flat(int(scene[1:])))
    return root


def make_pairs(root: Path, stems=("00010", "00002"), ldr_extension=".png") -> Path:
    """LDR_in/<stem> holds a ramp / 255 (exact in PNG), HDR_gt/<stem>.hdr holds ramp * int(stem)."""
    (root / "LDR_in").mkdir(parents=True)
    (root / "HDR_gt").mkdir()
    for stem in stems:
        write_ldr(root / "LDR_in" / f"{stem}{ldr_extension}", ramp() / 255)
        write_hdr(root / "HDR_gt" / f"{stem}.hdr", ramp() * int(stem))
    return root


class TestJangPairs:
    def test_items_sorted_and_paired(self, tmp_path):
        pairs = JangPairs(make_jang(tmp_path))
        assert len(pairs) == 9 and pairs.scenes == ["001", "002", "010"]
        for index in range(len(pairs)):
            item = pairs[index]
            scene, k = divmod(index, 3)
            number = int(pairs.scenes[scene])
            assert item["scene"] == pairs.scenes[scene] and item["exposure"] == ("-2", "0", "+2")[k]
            assert float(item["ev"]) == (-2.0, 0.0, 2.0)[k]
            assert torch.allclose(item["hdr"], flat(number))
            assert torch.allclose(item["ldr"], flat(code(10 * number + 60 * k)), atol=code(2))  # JPEG

    def test_tasks(self, tmp_path):
        tasks = JangPairs(make_jang(tmp_path), tasks=True)
        assert len(tasks) == 3
        task = tasks[1]  # scene 002
        assert task["scene"] == "002"
        assert task["support_ev"].tolist() == [-2.0, 2.0] and task["query_ev"].tolist() == [0.0]
        assert task["support_ldr"].shape == task["support_hdr"].shape == (2, 3, SIDE, SIDE)
        assert task["query_ldr"].shape == task["query_hdr"].shape == (1, 3, SIDE, SIDE)
        assert torch.allclose(task["query_ldr"][0], flat(code(20 + 60)), atol=code(2))
        assert torch.allclose(task["support_ldr"][1], flat(code(20 + 120)), atol=code(2))
        assert torch.allclose(task["support_hdr"], flat(2).expand(2, 3, SIDE, SIDE))

    def test_chosen_query_and_subset(self, tmp_path):
        make_jang(tmp_path)
        task = JangPairs(tmp_path, tasks=True, query="+2")[0]
        assert task["support_ev"].tolist() == [-2.0, 0.0] and task["query_ev"].tolist() == [2.0]
        assert len(JangPairs(tmp_path, exposures=("0",))) == 3

    def test_missing_exposure_file(self, tmp_path):
        make_jang(tmp_path)
        (tmp_path / "LDR_exposure_0" / "LDR_010.jpg").unlink()
        with pytest.raises(MissingFileError, match="LDR_010.jpg") as info:
            JangPairs(tmp_path)
        message = str(info.value)
        assert "HanbyolJang/LDR-HDR-pair_Dataset" in message and "LDR_exposure_+2/LDR_001.jpg" in message

    def test_ldr_without_hdr(self, tmp_path):
        make_jang(tmp_path)
        (tmp_path / "HDR" / "HDR_002.hdr").unlink()
        with pytest.raises(MissingFileError, match="HDR_002.hdr"):
            JangPairs(tmp_path)

    def test_missing_folders(self, tmp_path):
        with pytest.raises(MissingFileError, match="no such folder"):
            JangPairs(tmp_path / "nowhere")
        (tmp_path / "HDR").mkdir()
        with pytest.raises(MissingFileError, match="no HDR_<number>.hdr files"):
            JangPairs(tmp_path)
        write_hdr(tmp_path / "HDR" / "HDR_001.hdr", flat(1))
        with pytest.raises(MissingFileError, match="HDR/"):  # lists what the root holds
            JangPairs(tmp_path)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"exposures": ("-2", "zero")}, ChoiceError),
            ({"exposures": ("0", "+0")}, ChoiceError),
            ({"exposures": "0"}, ChoiceError),
            ({"exposures": (0,)}, ChoiceError),
            ({"tasks": True, "query": "+4"}, ChoiceError),
            ({"tasks": True, "exposures": ("0",)}, ChoiceError),
            ({"tasks": "yes"}, DTypeError),
            ({"crop": "middle"}, ChoiceError),
            ({"size": 0}, RangeError),
            ({"max_side": 2.5}, DTypeError),
            ({"seed": -1}, RangeError),
        ],
    )
    def test_argument_errors(self, tmp_path, kwargs, error):
        with pytest.raises(error):
            JangPairs(make_jang(tmp_path), **kwargs)

    def test_root_type(self):
        with pytest.raises(DTypeError):
            JangPairs(42)


class TestDrTMOBrackets:
    def test_stacks(self, tmp_path):
        brackets = DrTMOBrackets(make_drtmo(tmp_path))
        assert brackets.scenes == ["hdr2_srgb", "hdr10_srgb"] and len(brackets) == 2
        item = brackets[0]
        assert item["scene"] == "hdr2_srgb" and item["stack"].shape == (9, 3, SIDE, SIDE)
        expected = torch.stack([flat(code(10 * k + 1)) for k in range(9)])  # hdr2_srgb was made second: s = 1
        assert torch.equal(item["stack"], expected)
        assert torch.equal(item["times"], torch.tensor(DRTMO_TIMES))
        assert torch.allclose(item["evs"], torch.linspace(-2, 2, 9))

    def test_custom_files_and_times(self, tmp_path):
        make_drtmo(tmp_path)
        item = DrTMOBrackets(tmp_path, (0.01, 0.04), files=("a.png", "e.png"))[1]
        assert torch.equal(item["stack"][1], flat(code(40)))
        assert item["evs"].tolist() == [-2.0, 0.0]

    def test_missing_files(self, tmp_path):
        make_drtmo(tmp_path)
        (tmp_path / "hdr10_srgb" / "e.png").unlink()
        with pytest.raises(MissingFileError, match="hdr10_srgb/e.png") as info:
            DrTMOBrackets(tmp_path)
        assert "npal.cs.tsukuba.ac.jp" in str(info.value)
        with pytest.raises(MissingFileError, match="no stack folders"):
            DrTMOBrackets(tmp_path / "hdr2_srgb")

    @pytest.mark.parametrize(
        ("times", "files", "error"),
        [
            (DRTMO_TIMES[::-1], DRTMO_FILES, ExposureError),
            (DRTMO_TIMES[:8], DRTMO_FILES, ExposureError),
            ((0.0, 1.0), ("a.png", "b.png"), ExposureError),
            (DRTMO_TIMES, "abcdefghi", ChoiceError),
        ],
    )
    def test_argument_errors(self, tmp_path, times, files, error):
        with pytest.raises(error):
            DrTMOBrackets(make_drtmo(tmp_path), times, files=files)


class TestVDS:
    def test_stacks_sorted_naturally(self, tmp_path):
        vds = VDS(make_vds(tmp_path))
        assert vds.scenes == ["t1", "t2", "t10"]
        item = vds[2]
        assert item["scene"] == "t10" and item["stack"].shape == (7, 3, SIDE, SIDE)
        assert torch.equal(item["stack"], torch.stack([flat(code(100 + 20 * ev)) for ev in VDS_EVS]))
        assert item["evs"].tolist() == list(map(float, VDS_EVS))
        assert item["times"].tolist() == [2.0**ev for ev in VDS_EVS]
        assert torch.equal(item["hdr"], flat(10))

    def test_subset_of_evs(self, tmp_path):
        item = VDS(make_vds(tmp_path), evs=(-1, 0, 1))[0]
        assert torch.equal(item["stack"][2], flat(code(120)))

    def test_separate_hdr_tree(self, tmp_path):
        make_vds(tmp_path / "train_set", hdr_root=tmp_path / "train_hdr_set")
        assert torch.equal(VDS(tmp_path / "train_set", hdr_root=tmp_path / "train_hdr_set")[1]["hdr"], flat(2))
        with pytest.raises(MissingFileError, match="target_hdr.hdr"):
            VDS(tmp_path / "train_set")

    def test_plus_sign_is_not_the_published_name(self, tmp_path):
        make_vds(tmp_path, scenes=("t1",))
        (tmp_path / "t1" / "t1_3EV_true.jpg.png").rename(tmp_path / "t1" / "t1_+3EV_true.jpg.png")
        with pytest.raises(MissingFileError, match="t1_3EV_true.jpg.png") as info:
            VDS(tmp_path)
        assert "Siyeong-Lee/Deep_Recursive_HDRI" in str(info.value)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"evs": (-1.0, 0.0)}, DTypeError),
            ({"evs": (1, 0)}, ExposureError),
            ({"evs": ()}, DTypeError),
            ({"hdr_name": 3}, DTypeError),
            ({"hdr_root": 3}, DTypeError),
        ],
    )
    def test_argument_errors(self, tmp_path, kwargs, error):
        with pytest.raises(error):
            VDS(make_vds(tmp_path), **kwargs)


@pytest.mark.parametrize("loader", [HDREye, SingleHDRReal])
class TestInputGroundTruthPairs:
    def test_pairs_by_stem(self, tmp_path, loader):
        pairs = loader(make_pairs(tmp_path))
        assert pairs.scenes == ["00002", "00010"] and len(pairs) == 2
        item = pairs[1]
        assert item["scene"] == "00010"
        assert torch.equal(item["ldr"], ramp() / 255)
        assert torch.allclose(item["hdr"], ramp() * 10, rtol=0.01)  # RGBE keeps ~1 %

    def test_jpeg_inputs(self, tmp_path, loader):
        item = loader(make_pairs(tmp_path, ldr_extension=".jpg"))[0]
        assert item["ldr"].shape == (3, SIDE, SIDE)

    def test_unpaired_and_duplicate_files(self, tmp_path, loader):
        make_pairs(tmp_path)
        (tmp_path / "HDR_gt" / "00002.hdr").unlink()
        with pytest.raises(MissingFileError, match="HDR_gt/00002"):
            loader(tmp_path)
        write_hdr(tmp_path / "HDR_gt" / "00002.hdr", flat(1))
        write_ldr(tmp_path / "LDR_in" / "00002.jpg", flat(0.5))
        with pytest.raises(FileFormatError, match="00002.jpg and 00002.png"):
            loader(tmp_path)

    def test_missing_folder_names_the_route(self, tmp_path, loader):
        (tmp_path / "LDR_in").mkdir()
        with pytest.raises(MissingFileError, match="cmlab.csie.ntu.edu.tw") as info:
            loader(tmp_path)
        assert "HDR_gt/<name>.hdr" in str(info.value) and "LDR_in/" in str(info.value)
        (tmp_path / "HDR_gt").mkdir()
        with pytest.raises(MissingFileError, match="no images"):
            loader(tmp_path)

    def test_center_crop(self, tmp_path, loader):
        item = loader(make_pairs(tmp_path), size=4)[0]
        assert torch.equal(item["ldr"], ramp()[:, 2:6, 2:6] / 255)

    def test_max_side_then_crop(self, tmp_path, loader):
        pairs = loader(make_pairs(tmp_path), max_side=4)
        assert torch.allclose(pairs[0]["ldr"], resize_area(ramp() / 255, (4, 4)))
        assert pairs[0]["hdr"].shape == (3, 4, 4)
        assert loader(tmp_path, max_side=4, size=2)[0]["ldr"].shape == (3, 2, 2)

    def test_random_crop_is_shared_and_reproducible(self, tmp_path, loader):
        pairs = loader(make_pairs(tmp_path, stems=("00001",)), size=3, crop="random", seed=5)
        item = pairs[0]
        top, left = divmod(int(item["hdr"][0, 0, 0].round()) - 1, SIDE)
        assert torch.equal(item["ldr"], ramp()[:, top : top + 3, left : left + 3] / 255)
        assert torch.equal(pairs[0]["ldr"], item["ldr"])
        windows = {int(loader(tmp_path, size=3, crop="random", seed=seed)[0]["hdr"][0, 0, 0]) for seed in range(8)}
        assert len(windows) > 1

    def test_size_and_shape_errors(self, tmp_path, loader):
        make_pairs(tmp_path)
        with pytest.raises(ShapeError, match="raise max_side"):
            loader(tmp_path, size=SIDE + 1)[0]
        write_hdr(tmp_path / "HDR_gt" / "00002.hdr", flat(1, side=SIDE + 2))
        with pytest.raises(ShapeError, match="00002.hdr"):
            loader(tmp_path)[0]

    def test_negative_hdr_raises(self, tmp_path, loader):
        make_pairs(tmp_path, stems=("00001",))
        (tmp_path / "HDR_gt" / "00001.hdr").unlink()
        array = np.full((SIDE, SIDE, 3), -1.0, dtype=np.float32)
        assert cv2.imwrite(str(tmp_path / "HDR_gt" / "00001.exr"), array)
        with pytest.raises(RangeError, match="00001.exr"):
            loader(tmp_path)[0]

    def test_index_errors(self, tmp_path, loader):
        pairs = loader(make_pairs(tmp_path))
        assert torch.equal(pairs[-1]["ldr"], pairs[1]["ldr"])
        with pytest.raises(IndexError):
            pairs[2]
        with pytest.raises(DTypeError):
            pairs[0.0]


def test_downsampled_white_ldr_stays_in_range(tmp_path):
    """Area averages of an all-white LDR round to 1 + 1.2e-7 at 20 x 71 -> 23 px wide (tests/test_scenes.py):
    every loader's LDR must still pass check_ldr after max_side."""
    white = torch.ones(3, 20, 71)
    (tmp_path / "pairs" / "LDR_in").mkdir(parents=True)
    (tmp_path / "pairs" / "HDR_gt").mkdir()
    write_ldr(tmp_path / "pairs" / "LDR_in" / "a.png", white)
    write_hdr(tmp_path / "pairs" / "HDR_gt" / "a.hdr", white * 4)
    (tmp_path / "drtmo" / "s").mkdir(parents=True)
    for name in DRTMO_FILES:
        write_ldr(tmp_path / "drtmo" / "s" / name, white)
    pair = HDREye(tmp_path / "pairs", max_side=23)[0]
    stack = DrTMOBrackets(tmp_path / "drtmo", max_side=23)[0]["stack"]
    for ldr in (pair["ldr"], stack):
        assert ldr.shape[-2:] == (6, 23) and float(ldr.max()) == 1.0
        check_ldr(ldr)
    assert float(pair["hdr"].max()) > 1  # radiance is not clamped
