"""hdrlab.imaging.deghost: a bracket with a moving object merges without its ghosts, and nothing else changes."""

from __future__ import annotations

import pytest
import torch

from hdrlab.data.scenes import center_crop, load_scene
from hdrlab.errors import ChoiceError, RangeError, ShapeError
from hdrlab.imaging import camera
from hdrlab.imaging.crf import log_inverse_response
from hdrlab.imaging.deghost import ghost_masks, merge_deghosted
from hdrlab.imaging.merge import merge_debevec
from hdrlab.metrics import log_error_stops

EVS = [-2.0, -1.0, 0.0, 1.0, 2.0]
CURVE = "srgb"
SIZE = (64, 96)


def scene_with_mover(position: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The interior scene with a 12-px square 8 times brighter than the scene's median; its left edge at ``position``."""
    background = center_crop(load_scene("blender_interior", max_side=128), SIZE)
    radiance = background.clone()
    region = torch.zeros(SIZE, dtype=torch.bool)
    region[26:38, position : position + 12] = True
    radiance[:, region] = 8 * float(background.median())
    return radiance, region


@pytest.fixture(scope="module")
def moving_bracket():
    """Five frames, 1 EV apart, the square 14 px further right in each; the truth is what frame 2 saw."""
    times = torch.exp2(torch.tensor(EVS)) / 8
    frames, regions = [], []
    for j, time in enumerate(times):
        radiance, region = scene_with_mover(8 + 14 * j)
        frames.append(camera.expose(radiance, float(time), CURVE, noise=camera.NoiseModel.low_iso(),
                                    generator=torch.Generator().manual_seed(j)))
        regions.append(region)
    truth, _ = scene_with_mover(8 + 14 * 2)
    return torch.stack(frames), times, truth, torch.stack(regions).any(0)


def errors(radiance, truth, where):
    return float(log_error_stops(radiance, truth, mask=where[None], reduction="mean", align_scale=True))


class TestMergeDeghosted:
    def test_removes_the_ghosts_and_keeps_the_rest(self, moving_bracket):
        stack, times, truth, moved = moving_bracket
        g = log_inverse_response(CURVE)
        plain = merge_debevec(stack, times, g)
        cleaned, masks = merge_deghosted(stack, times, g, reference=2)
        ghost_plain, ghost_clean = errors(plain, truth, moved), errors(cleaned, truth, moved)
        assert ghost_clean < 0.25 * ghost_plain, (ghost_plain, ghost_clean)  # measured: see the module's notes
        still = ~moved
        assert errors(cleaned, truth, still) < errors(plain, truth, still) + 0.01  # the static scene is unharmed
        assert not masks[[0, 1, 3, 4]][:, moved].all()  # the mover was masked out somewhere in every other frame
        assert masks[2].all()

    def test_a_static_bracket_merges_as_before(self):
        radiance = center_crop(load_scene("blender_interior", max_side=128), SIZE)
        stack, times = camera.simulate_brackets(radiance, EVS, CURVE, unit="ev")
        g = log_inverse_response(CURVE)
        cleaned, masks = merge_deghosted(stack, times, g)
        assert masks.float().mean() > 0.99  # quantisation alone trips almost nothing at 0.5 stops
        assert torch.allclose(cleaned, merge_debevec(stack, times, g), rtol=1e-3)

    def test_integer_codes_give_the_float_result(self, moving_bracket):
        stack, times, _, _ = moving_bracket
        g = log_inverse_response(CURVE)
        codes = (stack * 255).round().to(torch.uint8)
        assert torch.equal(ghost_masks(codes, times, g), ghost_masks(stack, times, g))

    def test_reference_is_the_best_exposed_frame_by_default(self, moving_bracket):
        stack, times, _, _ = moving_bracket
        g = log_inverse_response(CURVE)
        masks = ghost_masks(stack, times, g)
        assert sum(bool(row.all()) for row in masks) >= 1  # the reference's row

    def test_bad_options(self, moving_bracket):
        stack, times, _, _ = moving_bracket
        g = log_inverse_response(CURVE)
        with pytest.raises(ChoiceError, match="reference"):
            ghost_masks(stack, times, g, reference=5)
        with pytest.raises(ChoiceError, match="grow"):
            ghost_masks(stack, times, g, grow=-1)
        with pytest.raises(RangeError):
            ghost_masks(stack, times, g, threshold=0.0)
        with pytest.raises(ShapeError, match=r"\(3, 256\)"):
            ghost_masks((stack * 255).round().to(torch.uint8), times, log_inverse_response(CURVE, bits=12))
        with pytest.raises(ShapeError):
            ghost_masks(stack[None], times, g)
