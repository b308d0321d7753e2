"""hdrlab.metrics: PSNR, SSIM, MS-SSIM, mu-PSNR, tone-mapped scores, log error in stops, LPIPS (offline)."""

import math
import os
import urllib.error

import pytest
import pytorch_msssim
import torch

from hdrlab import metrics
from hdrlab.errors import ChoiceError, DTypeError, MissingWeightsError, RangeError, ShapeError
from hdrlab.imaging import tonemap


class TestPsnr:
    def test_known_value(self):
        pred, target = torch.full((2, 3, 4, 4), 0.5), torch.full((2, 3, 4, 4), 0.6)  # MSE 0.01
        assert metrics.psnr(pred, target).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)

    def test_identical_is_inf(self):
        x = torch.rand(3, 4, 4)
        assert metrics.psnr(x, x) == math.inf

    def test_shapes(self):
        x, y = torch.rand(2, 4, 3, 8, 8), torch.rand(2, 4, 3, 8, 8)
        assert metrics.psnr(x, y).shape == (2, 4)
        assert metrics.psnr(x[0, 0], y[0, 0]).shape == ()

    def test_data_range(self):
        x, y = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
        assert torch.allclose(metrics.psnr(255 * x, 255 * y, data_range=255.0), metrics.psnr(x, y))

    def test_shape_mismatch(self):
        with pytest.raises(ShapeError, match="same shape"):
            metrics.psnr(torch.rand(3, 4, 4), torch.rand(3, 4, 5))

    def test_hdr_values_rejected_with_fix(self):
        with pytest.raises(RangeError, match="tonemapped_psnr"):
            metrics.psnr(torch.rand(3, 4, 4) * 10, torch.rand(3, 4, 4))

    def test_nan(self):
        with pytest.raises(RangeError, match="NaN"):
            metrics.psnr(torch.full((3, 4, 4), math.nan), torch.rand(3, 4, 4))

    def test_dtype(self):
        with pytest.raises(DTypeError):
            metrics.psnr(torch.ones(3, 4, 4, dtype=torch.uint8), torch.rand(3, 4, 4))


class TestSsim:
    def test_matches_pytorch_msssim(self):
        x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
        expected = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
        assert torch.allclose(metrics.ssim(x, y), expected)

    def test_identical_and_noise(self):
        x = torch.rand(2, 2, 3, 16, 16)
        assert torch.allclose(metrics.ssim(x, x), torch.ones(2, 2))
        noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
        assert (metrics.ssim(noisy, x) < 0.9).all()

    def test_small_image(self):
        with pytest.raises(ShapeError, match="11"):
            metrics.ssim(torch.rand(3, 8, 8), torch.rand(3, 8, 8))

    def test_range(self):
        with pytest.raises(RangeError):
            metrics.ssim(torch.rand(3, 16, 16) + 1, torch.rand(3, 16, 16))


class TestMsSsim:
    def test_size_error_names_the_fix(self):
        with pytest.raises(ShapeError, match=r"161.*ssim\(\) instead, or a larger crop"):
            metrics.ms_ssim(torch.rand(3, 160, 200), torch.rand(3, 160, 200))

    def test_identical_and_shape(self):
        x = torch.rand(1, 3, 161, 161)
        assert torch.allclose(metrics.ms_ssim(x, x), torch.ones(1), atol=1e-5)


class TestMuPsnr:
    def test_identical_is_inf(self):
        target = torch.rand(3, 8, 8) * 100
        assert metrics.mu_psnr(target, target) == math.inf

    def test_uses_the_targets_scale(self):
        # a 2x brightness error: tone-mapped PSNR forgives it, mu-PSNR (target's scale) does not
        target = torch.rand(3, 16, 16) * 100
        assert metrics.tonemapped_psnr(2 * target, target) > 80
        assert metrics.mu_psnr(2 * target, target) < 30

    def test_definition(self):
        pred, target = torch.rand(3, 8, 8) * 10, torch.rand(3, 8, 8) * 10
        scale = tonemap.hdr_scale(target)
        expected = metrics.psnr(tonemap.mu_law((pred / scale).clamp(0, 1)), tonemap.mu_law((target / scale).clamp(0, 1)))
        assert torch.allclose(metrics.mu_psnr(pred, target), expected)

    def test_no_normalisation(self):
        pred, target = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
        expected = metrics.psnr(tonemap.mu_law(pred, 100.0), tonemap.mu_law(target, 100.0))
        assert torch.allclose(metrics.mu_psnr(pred, target, mu=100.0, normalize=None), expected)
        with pytest.raises(RangeError, match="normalize_hdr"):
            metrics.mu_psnr(pred * 10, target, normalize=None)

    def test_bad_normalize(self):
        with pytest.raises(ChoiceError):
            metrics.mu_psnr(torch.rand(3, 4, 4), torch.rand(3, 4, 4), normalize="median")

    def test_negative_radiance(self):
        with pytest.raises(RangeError, match="negative"):
            metrics.mu_psnr(-torch.rand(3, 4, 4), torch.rand(3, 4, 4))


class TestTonemapped:
    @pytest.mark.parametrize("name", sorted(tonemap.TONEMAPS))
    def test_identical(self, name):
        target = torch.rand(2, 3, 16, 16).pow(3) * 100
        assert (metrics.tonemapped_psnr(target, target, name) == math.inf).all()
        assert torch.allclose(metrics.tonemapped_ssim(target, target, name), torch.ones(2))

    def test_definition_and_kwargs(self):
        pred, target = torch.rand(3, 16, 16) * 10, torch.rand(3, 16, 16) * 10
        display = [tonemap.reinhard_global(x, key=0.5) for x in (pred, target)]
        assert torch.equal(metrics.tonemapped_psnr(pred, target, key=0.5), metrics.psnr(*display))
        assert torch.equal(metrics.tonemapped_ssim(pred, target, key=0.5), metrics.ssim(*display))

    def test_unknown_tonemap(self):
        with pytest.raises(ChoiceError, match="reinhard"):
            metrics.tonemapped_psnr(torch.rand(3, 4, 4), torch.rand(3, 4, 4), "aces")

    def test_shape_mismatch(self):
        with pytest.raises(ShapeError):
            metrics.tonemapped_ssim(torch.rand(3, 16, 16), torch.rand(2, 3, 16, 16))


class TestLogErrorStops:
    def test_double_is_one_stop_unless_aligned(self):
        target = torch.rand(2, 3, 8, 8) + 0.01
        assert torch.allclose(metrics.log_error_stops(2 * target, target), torch.ones(2))
        assert torch.allclose(metrics.log_error_stops(2 * target, target, align_scale=True), torch.zeros(2), atol=1e-6)

    def test_median_vs_mean(self):
        target = torch.ones(3, 1, 4)
        pred = target.clone()
        pred[..., 0] = 16  # one pixel 4 stops off
        assert float(metrics.log_error_stops(pred, target)) == 0.0
        assert float(metrics.log_error_stops(pred, target, reduction="mean")) == pytest.approx(1.0)

    def test_mask_and_black_pixels_excluded(self):
        target = torch.ones(3, 4, 4)
        pred = target.clone()
        pred[:, 0] = 8  # a bad first row...
        pred[:, 1] = 0  # ...and a black one
        mask = torch.ones(1, 4, 4, dtype=torch.bool)
        mask[:, 0] = False
        assert float(metrics.log_error_stops(pred, target, mask=mask, reduction="mean")) == 0.0

    def test_no_valid_pixel(self):
        with pytest.raises(RangeError, match="positive luminance"):
            metrics.log_error_stops(torch.zeros(3, 4, 4), torch.ones(3, 4, 4))

    def test_bad_reduction(self):
        with pytest.raises(ChoiceError, match="median"):
            metrics.log_error_stops(torch.ones(3, 4, 4), torch.ones(3, 4, 4), reduction="max")

    def test_bad_mask(self):
        x = torch.ones(3, 4, 4)
        with pytest.raises(DTypeError, match="bool"):
            metrics.log_error_stops(x, x, mask=torch.ones(1, 4, 4))
        with pytest.raises(ShapeError, match="mask"):
            metrics.log_error_stops(x, x, mask=torch.ones(1, 5, 4, dtype=torch.bool))


BACKBONE_FILE = os.path.basename(metrics.LPIPS_BACKBONES["alex"][0].url)


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """An empty torch hub cache, and downloads that fail at once as they would without internet."""

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("offline (mocked in tests)")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


@pytest.fixture(scope="module")
def random_lpips():
    return metrics.LPIPS("alex", pretrained=False)


class TestLpips:
    def test_pretrained_offline_raises_with_the_route(self, offline_hub):
        with pytest.raises(MissingWeightsError) as info:
            metrics.LPIPS("alex", pretrained=True)
        message = str(info.value)
        assert BACKBONE_FILE in message and str(offline_hub / "checkpoints") in message and "pretrained=False" in message

    def test_auto_offline_is_random_and_says_so(self, offline_hub, capsys):
        model = metrics.LPIPS("alex", pretrained="auto")
        assert model.pretrained_backbone is False
        assert "RANDOM backbone" in capsys.readouterr().out

    def test_cached_weights_are_used(self, offline_hub, random_lpips):
        # torchvision's layout (features.<i>.*) of another random backbone stands in for the ImageNet file
        features = {f"features.{k.split('.', 1)[1]}": v for k, v in random_lpips.model.net.state_dict().items()}
        (offline_hub / "checkpoints").mkdir()
        torch.save(features, offline_hub / "checkpoints" / BACKBONE_FILE)
        model = metrics.LPIPS("alex", pretrained=True)
        assert model.pretrained_backbone is True
        assert torch.equal(model.model.net.state_dict()["slice5.10.weight"], features["features.10.weight"])

    def test_mismatched_cache_file(self, offline_hub):
        (offline_hub / "checkpoints").mkdir()
        torch.save({"features.0.weight": torch.zeros(1)}, offline_hub / "checkpoints" / BACKBONE_FILE)
        with pytest.raises(MissingWeightsError, match="Delete the file"):
            metrics.LPIPS("alex", pretrained=True)

    def test_values_and_shapes(self, random_lpips):
        assert random_lpips.pretrained_backbone is False
        x, y = torch.rand(2, 2, 3, 32, 32), torch.rand(2, 2, 3, 32, 32)
        assert torch.equal(random_lpips(x, x), torch.zeros(2, 2))
        assert (random_lpips(x, y) > 0).all() and random_lpips(x[0, 0], y[0, 0]).shape == ()

    def test_frozen_eval_and_differentiable(self, random_lpips):
        random_lpips.train()
        assert not random_lpips.model.training and not any(p.requires_grad for p in random_lpips.parameters())
        x, y = torch.rand(1, 3, 32, 32, requires_grad=True), torch.rand(1, 3, 32, 32)
        assert torch.equal(random_lpips(x, y), random_lpips(x, y))  # dropout stays off
        random_lpips(x, y).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()

    def test_small_image(self, random_lpips):
        with pytest.raises(ShapeError, match="31"):
            random_lpips(torch.rand(3, 16, 16), torch.rand(3, 16, 16))

    def test_range(self, random_lpips):
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            random_lpips(torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32))

    @pytest.mark.parametrize("kwargs", [{"net": "squeeze"}, {"pretrained": "yes"}])
    def test_bad_choices(self, kwargs):
        with pytest.raises(ChoiceError):
            metrics.LPIPS(**kwargs)


@pytest.fixture
def cvvdp_installed():
    """Skip with the install line (fail in CI, which installs it) when the cvvdp package is missing."""
    import importlib.util

    if importlib.util.find_spec("pycvvdp") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs cvvdp (scripts/setup.sh), but pycvvdp is missing: {metrics.CVVDP_INSTALL}")
        pytest.skip(f"the cvvdp package is not installed; install it with: {metrics.CVVDP_INSTALL}")


@pytest.fixture(scope="module")
def hdr_scene():
    from hdrlab.data.scenes import load_scene

    return load_scene("blender_interior", max_side=128)


class TestCvvdp:
    def test_an_identical_pair_scores_the_maximum(self, cvvdp_installed, hdr_scene):
        assert float(metrics.cvvdp_jod(hdr_scene, hdr_scene)) == pytest.approx(10.0, abs=1e-4)

    def test_degradations_score_lower_the_stronger_they_are(self, cvvdp_installed, hdr_scene):
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(hdr_scene.shape, generator=generator)
        scores = [float(metrics.cvvdp_jod(hdr_scene * torch.exp(noise * sigma), hdr_scene)) for sigma in (0.05, 0.3)]
        assert 10.0 > scores[0] > scores[1]

    def test_exposure_is_aligned_unless_asked_not_to(self, cvvdp_installed, hdr_scene):
        assert float(metrics.cvvdp_jod(hdr_scene * 4, hdr_scene)) == pytest.approx(10.0, abs=1e-4)
        assert float(metrics.cvvdp_jod(hdr_scene * 4, hdr_scene, align_scale=False)) < 9.9

    def test_a_dark_scene_is_no_units_warning(self, cvvdp_installed, hdr_scene, caplog):
        dark = hdr_scene.clone()
        dark[:, 0, 0] = dark.max() * 1e4  # one light source: the rest is shown below 1 cd/m^2
        metrics.cvvdp_jod(dark, dark)
        assert not [r for r in caplog.records if "absolute photometric units" in r.getMessage()]

    def test_one_score_per_image(self, cvvdp_installed, hdr_scene):
        batch = torch.stack([hdr_scene, hdr_scene * 1.5])
        assert metrics.cvvdp_jod(batch, batch).shape == (2,)

    def test_bad_input(self, cvvdp_installed, hdr_scene):
        with pytest.raises(ChoiceError, match="display model"):
            metrics.cvvdp_jod(hdr_scene, hdr_scene, display="my_phone")
        with pytest.raises(RangeError, match="all-black reference"):
            metrics.cvvdp_jod(hdr_scene, torch.zeros_like(hdr_scene))
        with pytest.raises(ShapeError):
            metrics.cvvdp_jod(hdr_scene[:, :4, :4], hdr_scene[:, :4, :4])

    def test_a_missing_package_says_how_to_install_it(self, monkeypatch):
        import sys

        from hdrlab.errors import MissingPackageError

        monkeypatch.setitem(sys.modules, "pycvvdp", None)  # import pycvvdp now raises ImportError
        monkeypatch.setattr(metrics, "_CVVDP_METRICS", {})
        with pytest.raises(MissingPackageError, match="pip install --no-deps cvvdp"):
            metrics.cvvdp_jod(torch.ones(3, 8, 8), torch.ones(3, 8, 8))

    def test_the_install_line_is_what_setup_installs(self):
        from pathlib import Path

        setup = (Path(__file__).resolve().parents[1] / "scripts" / "setup.sh").read_text().replace("\\\n", " ")
        for requirement in metrics.CVVDP_INSTALL.split()[3:]:
            assert requirement in setup, requirement


class TestPu21:
    def test_the_published_formula_at_hand_computed_points(self):
        p1, p2, p3, p4, p5, p6, p7 = metrics.PU21_COEFFICIENTS

        def by_hand(y: float) -> float:  # the authors' equation, in Python floats
            return p7 * (((p1 + p2 * y**p4) / (1 + p3 * y**p4)) ** p5 - p6)

        points = [0.005, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
        encoded = metrics.pu21_encode(torch.tensor(points, dtype=torch.float64)).tolist()
        assert encoded == pytest.approx([by_hand(y) for y in points], rel=1e-12, abs=1e-9)
        assert encoded[0] == pytest.approx(0.0, abs=1e-6)  # the range's bottom encodes to 0
        assert encoded[4] == pytest.approx(256.38, abs=0.01)  # 100 cd/m^2, an SDR display's white, ~256
        assert all(b > a for a, b in zip(encoded, encoded[1:]))

    def test_agrees_with_the_authors_implementation_in_cvvdp(self, cvvdp_installed):
        from pycvvdp.utils import PU

        luminance = torch.logspace(math.log10(0.005), 4, 200, dtype=torch.float64).clamp(*metrics.PU21_RANGE)
        assert torch.allclose(metrics.pu21_encode(luminance), PU()._encode_direct(luminance), rtol=1e-12)

    def test_out_of_range_is_an_error_unless_clipped(self):
        with pytest.raises(RangeError, match="PU21's range"):
            metrics.pu21_encode(torch.tensor([0.001, 50.0]))
        with pytest.raises(RangeError, match="NaN"):
            metrics.pu21_encode(torch.tensor([math.nan]), clip=True)
        clipped = metrics.pu21_encode(torch.tensor([0.001, 2e4]), clip=True)
        assert torch.allclose(clipped, metrics.pu21_encode(torch.tensor(metrics.PU21_RANGE)))

    def test_psnr_and_ssim(self, hdr_scene):
        aligned = float(metrics.pu21_psnr(hdr_scene * 3, hdr_scene))  # exposure aside, identical
        assert aligned > 100 and aligned > float(metrics.pu21_psnr(hdr_scene * 3, hdr_scene, align_scale=False)) + 50
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(hdr_scene.shape, generator=generator)
        mild, strong = (hdr_scene * torch.exp(noise * sigma) for sigma in (0.05, 0.3))
        assert float(metrics.pu21_psnr(mild, hdr_scene)) > float(metrics.pu21_psnr(strong, hdr_scene)) > 0
        assert float(metrics.pu21_ssim(hdr_scene, hdr_scene)) == pytest.approx(1.0, abs=1e-6)
        assert 1.0 > float(metrics.pu21_ssim(mild, hdr_scene)) > float(metrics.pu21_ssim(strong, hdr_scene))

    def test_by_hand_on_a_flat_pair(self):
        target = torch.full((3, 16, 16), 2.0)  # its brightest pixel goes to the display's peak
        pred = target.clone()
        pred[:, 0, 0] = 1.0  # one pixel at half the light, everything else exact
        expected_error = (metrics.pu21_encode(torch.tensor(metrics.HDR_DISPLAY_PEAK / 2))
                          - metrics.pu21_encode(torch.tensor(metrics.HDR_DISPLAY_PEAK))) ** 2 / 256
        expected = 10 * math.log10(256**2 / float(expected_error))
        assert float(metrics.pu21_psnr(pred, target)) == pytest.approx(expected, rel=1e-5)

    def test_batches_and_bad_input(self, hdr_scene):
        batch = torch.stack([hdr_scene, hdr_scene * 2])
        assert metrics.pu21_psnr(batch, batch * 1.1).shape == (2,)
        assert metrics.pu21_ssim(batch, batch * 1.1).shape == (2,)
        with pytest.raises(RangeError, match="all-black reference"):
            metrics.pu21_psnr(hdr_scene, torch.zeros_like(hdr_scene))
        with pytest.raises(RangeError):
            metrics.pu21_psnr(hdr_scene, hdr_scene, display_peak=0.0)
        with pytest.raises(ShapeError):
            metrics.pu21_ssim(hdr_scene[:, :8, :8], hdr_scene[:, :8, :8])

    def test_cvvdp_shows_the_same_display(self, cvvdp_installed):
        metric = metrics._cvvdp_metric(metrics.CVVDP_DISPLAY, torch.device("cpu"))
        assert metric.display_photometry.get_peak_luminance() == metrics.HDR_DISPLAY_PEAK
