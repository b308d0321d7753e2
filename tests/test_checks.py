"""hdrlab.checks: each checker passes the reference and fails typical mistakes, without raising.

The right and wrong answers here are built from hdrlab's own references, so the
checkers' watch for reference calls is switched off in this module; it is tested,
with the teacher edition's solutions, in ``test_checks_learner.py``.
"""

import sys

import pytest
import torch

from hdrlab import checks
from hdrlab.data import scenes
from hdrlab.imaging import camera, tonemap


@pytest.fixture(autouse=True)
def references_allowed(monkeypatch):
    """Switch off the checkers' reference watch (sys.setprofile) for answers built from the references."""
    monkeypatch.setattr(sys, "setprofile", lambda function: None)


def _lum(radiance):
    return tonemap.luminance(radiance)[0]


def test_environment(capsys):
    assert checks.check_environment()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("PASS: ") for line in out)


class TestAutoExposure:
    def test_reference_passes(self, capsys):
        assert checks.check_auto_exposure(camera.auto_exposure)
        assert capsys.readouterr().out.startswith("PASS: auto exposure")

    @pytest.mark.parametrize("wrong", [
        lambda r: 0.18 / _lum(r).mean(),  # arithmetic instead of geometric mean
        lambda r: 0.5 / torch.exp(torch.log(_lum(r) + 1e-6).mean()),  # wrong key
    ])
    def test_mistakes_fail(self, wrong, capsys):
        assert not checks.check_auto_exposure(wrong)
        assert capsys.readouterr().out.startswith("FAIL: auto exposure")


class TestCamera:
    def test_reference_passes(self):
        assert checks.check_camera(lambda r, t: camera.expose(r, t, "srgb", bits=8))

    @pytest.mark.parametrize("wrong, message", [
        (lambda r, t: camera.expose(r, t, "srgb", bits=None), "not 8-bit codes"),
        (lambda r, t: camera.expose(r, t, "gamma2.2", bits=8), "differ"),
        (lambda r, t: camera.expose(r, t, "srgb", bits=8)[:2], "shape"),
    ])
    def test_mistakes_fail(self, wrong, message, capsys):
        assert not checks.check_camera(wrong)
        assert message in capsys.readouterr().out

    def test_student_exception_is_reported_not_raised(self, capsys):
        def broken(radiance, time):
            raise NotImplementedError("write me")

        assert not checks.check_camera(broken)
        assert "not solved yet" in capsys.readouterr().out


class TestDynamicRange:
    def test_reference_passes(self):
        assert checks.check_dynamic_range(scenes.dynamic_range_stops)

    def test_max_over_min_fails(self, capsys):
        def max_over_min(r):
            lum = _lum(r)
            return float(torch.log2(lum.max() / lum[lum > 0].min()))

        assert not checks.check_dynamic_range(max_over_min)
        assert "FAIL: dynamic range" in capsys.readouterr().out


class TestChapterOneCheckers:
    def test_hat(self, capsys):
        from hdrlab.imaging.weights import exposure_weight

        assert checks.check_hat_weight(lambda x: exposure_weight(x, "hat"))
        assert not checks.check_hat_weight(lambda x: 1 - (x - 0.5).abs())  # wrong slope
        assert "FAIL: hat weight" in capsys.readouterr().out

    def test_debevec_rows(self, capsys):
        def reference(codes, log_times, pixel, pixels, weights):
            levels, n = weights.shape[0], codes.shape[0]
            rows = torch.zeros(n, levels + pixels, dtype=torch.float64)
            w = weights[codes]
            rows[torch.arange(n), codes] = w
            rows[:, levels + pixel] = -w
            return rows, w * log_times

        def unweighted(codes, log_times, pixel, pixels, weights):
            rows, rhs = reference(codes, log_times, pixel, pixels, torch.ones_like(weights))
            return rows, rhs

        assert checks.check_debevec_rows(reference)
        assert not checks.check_debevec_rows(unweighted)
        assert not checks.check_debevec_rows(lambda *args: None)
        out = capsys.readouterr().out
        assert "rows differ" in out and "expected (A_rows, b_rows)" in out

    def test_reinhard_global(self, capsys):
        assert checks.check_reinhard_global(lambda r, key: tonemap.reinhard_global(r, key=key))
        assert not checks.check_reinhard_global(lambda r, key: tonemap.reinhard_global(r, key=0.18))  # ignores key
        assert "key=0.45" in capsys.readouterr().out


def _inner_step(model, params, x, y, loss_fn, lr, create_graph=True):
    loss = loss_fn(torch.func.functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
    return {name: p - lr * g for (name, p), g in zip(params.items(), grads)}


class TestChapterTwoCheckers:
    def test_expandnet_loss(self, capsys):
        from hdrlab.nn.losses import expandnet_loss

        assert checks.check_expandnet_loss(lambda p, t, w: expandnet_loss(p, t, cosine_weight=w))
        assert not checks.check_expandnet_loss(lambda p, t, w: (p - t).abs().mean())  # no cosine term
        cos_over_pixels = lambda p, t, w: (p - t).abs().mean() + w * (  # noqa: E731
            1 - torch.nn.functional.cosine_similarity(p.flatten(2), t.flatten(2), dim=-1).mean())
        assert not checks.check_expandnet_loss(cos_over_pixels)  # cosine over the wrong dim
        assert capsys.readouterr().out.count("FAIL: ExpandNet loss") == 2

    def test_inner_step(self, capsys):
        assert checks.check_inner_step(_inner_step)
        assert not checks.check_inner_step(lambda *a: _inner_step(*a, create_graph=False))  # first order only
        assert not checks.check_inner_step(lambda m, p, x, y, f, lr: _inner_step(m, p, x, y, f, -lr))  # ascent
        assert not checks.check_inner_step(lambda *a: 1 / 0)
        out = capsys.readouterr().out
        assert "second-order" in out and "ZeroDivisionError" in out

    def test_metahdr_adaptation(self, capsys):
        row = lambda v: {"psnr": v}  # noqa: E731
        assert checks.check_metahdr_adaptation({"adapted": row(20), "single_shot": row(18), "ldr": row(15)})
        assert checks.check_metahdr_adaptation({"adapted": row(17), "single_shot": row(18), "ldr": row(15)})
        assert checks.check_metahdr_adaptation({"adapted": row(17), "single_shot": row(16), "ldr": row(18)})
        assert not checks.check_metahdr_adaptation({"adapted": row(15), "single_shot": row(16), "ldr": row(18)})
        assert not checks.check_metahdr_adaptation({"adapted": row(16), "single_shot": row(16), "ldr": row(18)})
        assert not checks.check_metahdr_adaptation({"adapted": row(20), "ldr": row(15)})
        assert capsys.readouterr().out.count("FAIL") == 3


class TestChapterThreeCheckers:
    def test_exposure_mask(self, capsys):
        from hdrlab.methods import multiexposure

        def mean_rgb(ldr, tau):  # the channel mean instead of BT.601 luma
            y = ldr.mean(dim=-3, keepdim=True)
            return 1 - torch.maximum((1 - tau - y).clamp(min=0), (y - tau).clamp(min=0)) / (1 - tau)

        assert checks.check_exposure_mask(multiexposure.exposure_mask)
        assert capsys.readouterr().out.startswith("PASS: well-exposedness mask")
        assert not checks.check_exposure_mask(mean_rgb)
        assert not checks.check_exposure_mask(lambda ldr, tau: multiexposure.exposure_mask(ldr))  # ignores tau
        assert not checks.check_exposure_mask(lambda ldr, tau: multiexposure.exposure_mask(ldr, tau)[:, 0])
        out = capsys.readouterr().out
        assert out.count("FAIL: well-exposedness mask") == 3 and "tau=0.9:" in out and "keepdim" in out

    def test_representation_loss(self, capsys):
        from hdrlab.methods import multiexposure

        def one_direction(short, long, ratio, eps):
            r = ratio.view(-1, 1, 1, 1)
            return (torch.log(long / r + eps) - torch.log(short + eps)).abs().mean()

        def detached(short, long, ratio, eps):
            return multiexposure.representation_loss(short.detach(), long, ratio, eps)

        def no_graph(short, long, ratio, eps):
            return torch.tensor(float(multiexposure.representation_loss(short.detach(), long.detach(), ratio, eps)))

        assert checks.check_representation_loss(multiexposure.representation_loss)
        assert not checks.check_representation_loss(one_direction)
        assert not checks.check_representation_loss(detached)
        assert not checks.check_representation_loss(no_graph)
        out = capsys.readouterr().out
        assert out.startswith("PASS: HDR representation loss")
        assert "mirror term" in out and "gradients differ" in out and "no graph" in out

    def test_multiexposure_effect(self, capsys):
        good = {"stack_psnr/+2/generated": 24.0, "stack_psnr/+2/naive": 20.0, "stack_psnr/-2/generated": 26.0,
                "stack_psnr/-2/naive": 22.0, "tm_psnr/generated": 21.0, "tm_psnr/ldr": 18.0}
        assert checks.check_multiexposure_effect(good)
        assert checks.check_multiexposure_effect({**good, "tm_psnr/true_bracket": 30.0})  # extra keys are fine
        passed = capsys.readouterr().out
        assert passed.startswith("PASS: ") and not any(c.isdigit() and c != "2" for c in passed)
        assert not checks.check_multiexposure_effect({**good, "stack_psnr/-2/naive": 27.5})
        assert not checks.check_multiexposure_effect({**good, "tm_psnr/ldr": 21.0})  # a tie is not a win
        assert not checks.check_multiexposure_effect({"tm_psnr/generated": 21.0})
        out = capsys.readouterr().out.splitlines()
        assert "-2 EV frames: generated 26.00 dB <= naive 27.50 dB" in out[0] and "+2 EV" not in out[0]
        assert "merged HDR: generated 21.00 dB <= ldr 21.00 dB" in out[1]
        assert "multiexposure.evaluate" in out[2]


class TestChapterFourCheckers:
    @staticmethod
    def slope(x, table, rounding=lambda v: torch.floor(v + 0.5), low=1):
        """Kim et al.'s Eq. 3: the left difference at the code (with the defaults)."""
        levels = table.shape[-1]
        z = rounding(x * (levels - 1)).long().clamp(low, levels - 1)
        return (table[z] - table[z - 1]) * (levels - 1)

    @staticmethod
    def segment_slope(x, table):
        """hdrlab's earlier rule: the segment holding x (the right one at a code, the last one at x = 1)."""
        levels = table.shape[-1]
        k = (x * (levels - 1)).floor().long().clamp(0, levels - 2)
        return (table[k + 1] - table[k]) * (levels - 1)

    def test_lookup_slope(self, capsys):
        assert checks.check_lookup_slope(self.slope)
        assert checks.check_lookup_slope(lambda x, table: self.slope(x, table, torch.round))  # no halfway cases
        assert capsys.readouterr().out.count("PASS: Eq. 3 backward") == 2
        assert not checks.check_lookup_slope(self.segment_slope)  # the old variant
        assert not checks.check_lookup_slope(lambda x, table: self.slope(x, table, torch.floor))  # not the code read
        assert not checks.check_lookup_slope(lambda x, table: self.slope(x, table, low=0))  # code 0: table[-1]
        assert not checks.check_lookup_slope(lambda x, table: self.slope(x, table)[:-1])
        out = capsys.readouterr().out
        assert out.count("FAIL: Eq. 3 backward") == 4
        assert "x=0.3333: got 9.0000, expected 3.0000" in out  # the segment to the right of code 1
        assert "x=0.0000: got -27.0000, expected 3.0000" in out and "one slope per value" in out

    def test_soft_histogram(self, capsys):
        from hdrlab.nn.losses import soft_histogram

        def hard(x, bins, bandwidth):
            return torch.stack([torch.histc(c, bins, 0, 1) / c.numel() for c in x])

        assert checks.check_soft_histogram(lambda x, bins, s: soft_histogram(x, bins, (0.0, 1.0), s))
        assert not checks.check_soft_histogram(hard)
        assert not checks.check_soft_histogram(lambda x, bins, s: soft_histogram(x, bins, (0.0, 1.0), s).detach())
        assert not checks.check_soft_histogram(lambda x, bins, s: soft_histogram(x, bins, (0.0, 1.0), s).sum(-1))
        out = capsys.readouterr().out
        assert out.startswith("PASS: soft histogram") and "max difference" in out and "no graph" in out
        assert "expected a tensor of shape (3, 8)" in out


class TestChapterFiveCheckers:
    def test_log_inverse(self, capsys):
        from hdrlab.methods import hybrid

        def forgets_the_shift(x, stats):  # the reference's bug: treats [-1, 1] as [0, 1]
            return torch.expm1(stats.low + x * (stats.high - stats.low))

        assert checks.check_log_inverse(hybrid.from_log_domain)
        assert not checks.check_log_inverse(forgets_the_shift)
        assert not checks.check_log_inverse(lambda x, stats: hybrid.from_log_domain(x, stats)[..., :1, :, :])
        assert not checks.check_log_inverse(lambda x, stats: 1 / 0)
        out = capsys.readouterr().out
        assert out.startswith("PASS: log-domain inverse") and out.count("FAIL: log-domain inverse") == 3
        assert "map x to [0, 1] first" in out and "return a tensor of shape" in out and "ZeroDivisionError" in out

    def test_icnr(self, capsys):
        from hdrlab.nn.blocks import icnr_

        def in_place(weight, scale):
            icnr_(weight, scale)

        def same_kernel_everywhere(weight, scale):
            torch.nn.init.kaiming_normal_(weight[:1])
            return weight[:1].expand_as(weight).clone()

        def random_init(weight, scale):
            return torch.nn.init.kaiming_normal_(weight)

        assert checks.check_icnr(icnr_) and checks.check_icnr(in_place)
        assert not checks.check_icnr(random_init)
        assert not checks.check_icnr(same_kernel_everywhere)
        assert not checks.check_icnr(lambda weight, scale: torch.zeros_like(weight))
        out = capsys.readouterr().out
        assert out.count("PASS: ICNR") == 2 and out.count("FAIL: ICNR") == 3
        assert "the 2x2 blocks of the output differ" in out and "share one kernel" in out and "all zero" in out

    def test_hybrid_beats_baselines_and_upsampler_study(self, capsys):
        rows = {"psnr_log/hybrid": 19.5, "psnr_log/ldr": 5.6, "psnr_log/constant": 18.2}
        assert checks.check_hybrid_beats_baselines(rows)
        assert not checks.check_hybrid_beats_baselines({**rows, "psnr_log/hybrid": 5.0})
        assert not checks.check_hybrid_beats_baselines({**rows, "psnr_log/constant": 19.6})  # a constant is no model
        assert not checks.check_hybrid_beats_baselines({"psnr_log/hybrid": 19.5, "psnr_log/ldr": 5.6})
        study = {"pixel_shuffle": {"checkerboard/hybrid": 0.12}, "resize_conv": {"checkerboard/hybrid": 0.003}}
        assert checks.check_upsampler_study(study)
        assert not checks.check_upsampler_study({**study, "resize_conv": {"checkerboard/hybrid": 0.2}})
        assert not checks.check_upsampler_study({"pixel_shuffle": {"checkerboard/hybrid": 0.12}})
        assert not checks.check_upsampler_study({"resize_conv": {"checkerboard/hybrid": 0.003}})
        out = capsys.readouterr().out
        assert out.count("PASS") == 2 and out.count("FAIL") == 6
        assert "hybrid 5.00 dB <= LDR 5.60 dB, constant 18.20 dB" in out and "hybrid 19.50 dB <= constant 19.60 dB" in out
        assert "missing or bad entry KeyError('psnr_log/constant')" in out and "plain 0.1200 <= resize_conv 0.2000" in out
        assert "train pixel_shuffle_icnr or resize_conv too" in out

    def test_capstone_leaderboard(self, capsys):
        from hdrlab.evaluate import Leaderboard
        from hdrlab.methods import compare

        def board(**means):
            names = (*compare.FIXED_RULES, *compare.SINGLE_IMAGE_METHODS, compare.UPPER_BOUND)
            scores = {name: {"pu21_psnr": [means.get(name, 15.0)] * 2} for name in names}
            return Leaderboard([("a", "srgb"), ("b", "srgb")], scores, {}, {}, {})

        gamma, ch3, upper = compare.FIXED_RULES[1], compare.SINGLE_IMAGE_METHODS[2], compare.UPPER_BOUND
        assert checks.check_capstone_leaderboard(board(**{gamma: 19.9, ch3: 21.2, upper: 31.1}))
        assert not checks.check_capstone_leaderboard(board(**{gamma: 19.9, ch3: 19.5, upper: 31.1}))
        assert not checks.check_capstone_leaderboard(board(**{gamma: 19.9, ch3: 21.2, upper: 20.0}))
        assert not checks.check_capstone_leaderboard({"pu21_psnr": 20.0})
        out = capsys.readouterr().out
        assert out.count("PASS") == 1 and out.count("FAIL") == 3
        assert f"true bracket 31.10, {ch3} 19.50, {gamma} 19.90 dB" in out and "pass the leaderboard" in out
