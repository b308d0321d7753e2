"""hdrlab.evaluate: one protocol of HDR metrics, each defined once in hdrlab.metrics."""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest
import torch

from hdrlab import evaluate, metrics
from hdrlab.data.scenes import load_scene
from hdrlab.errors import ChoiceError, MissingPackageError


@pytest.fixture(scope="module")
def scene():
    return load_scene("blender_interior", max_side=96)


def degraded(scene, sigma):
    noise = torch.randn(scene.shape, generator=torch.Generator().manual_seed(0))
    return scene * torch.exp(noise * sigma)


def test_the_same_radiance_at_another_exposure_scores_perfectly(scene):
    scores = evaluate.score_hdr(scene * 2, scene, perceptual=False)  # * 2 is exact in float
    assert scores["pu21_psnr"] == math.inf and float(scores["tm_psnr"]) > 100  # Reinhard's log-average rounds
    assert float(scores["pu21_ssim"]) == pytest.approx(1.0) and float(scores["tm_ssim"]) == pytest.approx(1.0)
    assert float(scores["log_error_stops"]) == 0.0


def test_every_metric_ranks_a_stronger_degradation_worse(scene):
    mild, strong = (evaluate.score_hdr(degraded(scene, s), scene, perceptual="auto") for s in (0.05, 0.4))
    for name, (_, higher_is_better) in evaluate.METRICS.items():
        if name in mild:
            better, worse = (float(mild[name]), float(strong[name]))
            assert (better > worse) if higher_is_better else (better < worse), name


def test_one_scoring_path_the_metrics_own_definitions(scene):
    pred = degraded(scene, 0.2)
    scores = evaluate.score_hdr(pred, scene, perceptual=False)
    assert torch.equal(scores["pu21_psnr"], metrics.pu21_psnr(pred, scene))
    assert torch.equal(scores["pu21_ssim"], metrics.pu21_ssim(pred, scene))
    assert torch.equal(scores["log_error_stops"], metrics.log_error_stops(pred, scene, align_scale=True))
    assert torch.equal(scores["tm_psnr"], metrics.tonemapped_psnr(pred, scene, tonemap=evaluate.TONEMAP))
    assert torch.equal(scores["tm_ssim"], metrics.tonemapped_ssim(pred, scene, tonemap=evaluate.TONEMAP))


def test_batches(scene):
    batch = torch.stack([scene, degraded(scene, 0.1)])
    assert all(v.shape == (2,) for v in evaluate.score_hdr(batch, batch.flip(0), perceptual=False).values())


@pytest.mark.skipif(importlib.util.find_spec("pycvvdp") is None, reason=f"cvvdp not installed: {metrics.CVVDP_INSTALL}")
def test_perceptual_score_when_installed(scene):
    scores = evaluate.score_hdr(scene, scene, perceptual=True)
    assert float(scores["cvvdp_jod"]) == pytest.approx(10.0, abs=1e-4)


def test_without_the_package_auto_says_so_and_true_raises(scene, monkeypatch, capsys):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pycvvdp" else object())
    monkeypatch.setitem(sys.modules, "pycvvdp", None)
    monkeypatch.setattr(metrics, "_CVVDP_METRICS", {})
    scores = evaluate.score_hdr(scene, scene, perceptual="auto")
    assert "cvvdp_jod" not in scores and "cvvdp_jod left out" in capsys.readouterr().out
    with pytest.raises(MissingPackageError, match="pip install"):
        evaluate.score_hdr(scene, scene, perceptual=True)


@pytest.mark.parametrize("perceptual", ["yes", None, 1.5])
def test_bad_perceptual(scene, perceptual):
    with pytest.raises(ChoiceError, match="perceptual"):
        evaluate.score_hdr(scene, scene, perceptual=perceptual)
