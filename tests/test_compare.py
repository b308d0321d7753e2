"""Chapter 6's comparison: the held-out items, every method as a row, and the one scoring path of the leaderboard."""

from __future__ import annotations

import pytest
import torch

from hdrlab import evaluate
from hdrlab.data import scenes
from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError
from hdrlab.imaging import camera
from hdrlab.methods import compare, expandnet, hybrid, metahdr, multiexposure, recursive


@pytest.fixture(scope="module")
def items():
    return compare.held_out_items("quick")


@pytest.fixture(scope="module")
def tiny_models():
    torch.manual_seed(0)
    return {"expandnet": expandnet.ExpandNet(4), "metahdr": metahdr.MetaUNet(2),
            "multiexposure": multiexposure.MultiExposureNet(n1_width=4, n23_width=4, levels=3),
            "recursive": recursive.RecursiveHDRNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2),
            "hybrid": hybrid.HybridAutoencoder(width=4, pretrained=False)}


@pytest.fixture(scope="module")
def rows(tiny_models):
    log_range = hybrid.LogStats(torch.zeros(1, 1, 1, dtype=torch.float64), torch.ones(1, 1, 1, dtype=torch.float64))
    return compare.chapter_methods(tiny_models, "quick", hybrid_range=log_range)


class TestHeldOutItems:
    def test_the_test_scenes_through_every_curve_at_one_size(self, items):
        test_scenes = scenes.split_scenes(seed=0)["test"]
        assert [(item["scene"], item["crf"]) for item in items] == [(s, c) for s in test_scenes for c in compare.CRFS]
        for item in items:
            height, width = item["ldr"].shape[-2:]
            assert height % 32 == 0 and width % 32 == 0 and max(height, width) == compare.SIZES["quick"]
            assert item["bracket"].shape == (len(compare.EVS), 3, height, width)
            assert torch.equal(item["bracket"][compare.EVS.index(0.0)], item["ldr"])

    def test_the_reference_is_the_radiance_in_the_ev0_shots_units(self, items):
        item = items[0]
        radiance = hybrid.crop_to_stride(scenes.load_scene(item["scene"], max_side=compare.SIZES["quick"]))
        t_ref = float(camera.auto_exposure(radiance))
        assert torch.allclose(item["hdr"], radiance * t_ref)
        assert torch.equal(item["ldr"], camera.expose(radiance, t_ref, item["crf"]))

    def test_validation_scenes_differ_from_the_test_scenes(self, items):
        val = compare.held_out_items("quick", "val")
        assert not {i["scene"] for i in val} & {i["scene"] for i in items}

    def test_bad_split(self):
        with pytest.raises(ChoiceError, match="Expected"):
            compare.held_out_items("quick", "train")


class TestRows:
    def test_every_row_predicts_radiance_of_the_items_shape(self, rows, items):
        assert [row.name for row in rows][:2] == ["LDR input", "LDR, inverse gamma 2.2"]
        assert len(rows) == 9
        for row in rows:
            pred = row.predict(items[0])
            assert pred.shape == items[0]["hdr"].shape and bool(torch.isfinite(pred).all()) and bool((pred >= 0).all())

    def test_only_adaptation_and_the_true_bracket_see_more_than_the_shot(self, rows):
        assert {row.name for row in rows if row.sees} == {
            "MetaHDR, adapted (ch. 2)", "true bracket, merged (upper bound)"}

    def test_parameters_are_the_models_counts(self, rows, tiny_models):
        counts = {row.name: row.parameters for row in rows}
        assert counts["ExpandNet (ch. 2-5 baseline)"] == sum(p.numel() for p in tiny_models["expandnet"].parameters())
        assert counts["LDR input"] == 0

    def test_adaptation_changes_the_prediction(self, rows, items):
        by_name = {row.name: row for row in rows}
        single = by_name["MetaHDR, single shot (ch. 2)"].predict(items[0])
        adapted = by_name["MetaHDR, adapted (ch. 2)"].predict(items[0])
        assert not torch.allclose(single, adapted)

    def test_models_need_every_chapter(self, tiny_models):
        with pytest.raises(DTypeError, match="Expected"):
            compare.chapter_methods({"expandnet": tiny_models["expandnet"]}, "quick")

    def test_chapter_models_need_every_run_folder(self):
        with pytest.raises(DTypeError, match="Expected"):
            compare.chapter_models("quick", {"expandnet": "runs/x"})


class TestOneScoringPath:
    def test_the_board_holds_what_score_hdr_returned_for_each_prediction(self, rows, items, monkeypatch):
        """A method cannot score itself: every number on the board is score_hdr of its prediction."""
        calls = []
        real = evaluate.score_hdr

        def recording(pred, target, **options):
            scores = real(pred, target, **options)
            calls.append((pred.clone(), target, scores))
            return scores

        monkeypatch.setattr(evaluate, "score_hdr", recording)
        board = evaluate.leaderboard(rows, items[:2], perceptual=False)
        assert len(calls) == len(rows) * 2
        for index, (row, item) in enumerate((row, item) for row in rows for item in items[:2]):
            pred, target, scores = calls[index]
            assert target is item["hdr"]
            assert torch.allclose(pred, row.predict(item), rtol=1e-5, atol=1e-7)
            for metric, value in scores.items():
                assert board.scores[row.name][metric][index % 2] == float(value)

    def test_recomputed_outside_the_board_the_scores_are_the_same(self, rows, items):
        board = evaluate.leaderboard(rows, items[:1], perceptual=False)
        for row in rows:
            direct = evaluate.score_hdr(row.predict(items[0]), items[0]["hdr"], perceptual=False)
            for metric, value in direct.items():
                assert board.scores[row.name][metric][0] == pytest.approx(float(value), rel=1e-5, abs=1e-6)

    def test_a_method_that_scores_itself_differently_is_caught(self, rows, items):
        """The check above fails for a row that returns something other than what it is scored on."""
        flipping = [False]

        def unstable(item):
            flipping[0] = not flipping[0]
            return item["ldr"] ** (2.2 if flipping[0] else 1.0)

        board = evaluate.leaderboard([evaluate.Method("unstable", unstable)], items[:1], perceptual=False)
        direct = evaluate.score_hdr(unstable(items[0]), items[0]["hdr"], perceptual=False)
        assert board.scores["unstable"]["pu21_psnr"][0] != pytest.approx(float(direct["pu21_psnr"]))

    def test_time_and_memory_are_recorded(self, rows, items):
        board = evaluate.leaderboard(rows[:3], items[:2], perceptual=False)
        assert all(board.ms_per_megapixel[row.name] > 0 for row in rows[:3])
        assert all(peak is None or peak >= 0 for peak in board.peak_mb.values())


@pytest.fixture(scope="module")
def board(items):
    return evaluate.leaderboard(compare.baseline_methods(), items, perceptual=False)


class TestTables:
    def test_table_over_items_and_over_seeds(self, board):
        text = evaluate.leaderboard_table(board)
        assert "LDR, inverse gamma 2.2" in text and "12 held-out items" in text
        gamma = evaluate.leaderboard_spread(board, "LDR, inverse gamma 2.2", "pu21_psnr")
        assert f"{gamma[0]:.2f} ± {gamma[1]:.2f}" in text
        assert "2 seeds" in evaluate.leaderboard_table([board, board])
        assert evaluate.leaderboard_spread([board, board], "LDR input", "pu21_psnr")[1] == 0.0

    def test_boards_of_different_methods_do_not_mix(self, board, items):
        other = evaluate.leaderboard(compare.baseline_methods()[:1], items[:1], perceptual=False)
        with pytest.raises(ChoiceError, match="Expected"):
            evaluate.leaderboard_table([board, other])

    def test_scene_wins_count_ties_for_each(self, board):
        wins = evaluate.scene_wins(board, "pu21_psnr")
        assert sum(wins.values()) >= len(board.items)
        assert evaluate.scene_wins(board, "log_error_stops", among=["LDR input"]) == {"LDR input": 12}

    def test_method_checks_its_fields(self):
        with pytest.raises(RangeError, match="Expected"):
            evaluate.Method("x", lambda item: item["ldr"], parameters=-1)
        with pytest.raises(ShapeError, match="Expected"):
            evaluate.leaderboard([evaluate.Method("crop", lambda item: item["ldr"][:, :8])],
                                 [{"ldr": torch.rand(3, 16, 16), "hdr": torch.rand(3, 16, 16), "scene": "s",
                                   "crf": "srgb"}], perceptual=False)


def test_hybrid_log_range_is_the_median_of_the_validation_ranges():
    pairs = [{"hdr": torch.full((3, 2, 2), v)} for v in (1.0, 3.0, 7.0)]
    pairs[0]["hdr"][0, 0, 0] = 0.0
    stats = compare.hybrid_log_range(pairs)
    assert float(stats.high) == pytest.approx(float(torch.log1p(torch.tensor(3.0))))
    assert float(stats.low) == pytest.approx(float(torch.log1p(torch.tensor(3.0))))
    with pytest.raises(RangeError, match="Expected"):
        compare.hybrid_log_range([])
