"""The names the notebooks use exist (a rename must update the notebooks too)."""

import importlib

import pytest

PUBLIC = {
    "hdrlab": ["setup", "device", "profile", "seed_everything", "REPOSITORY", "colab_url", "__version__"],
    "hdrlab.env": ["setup", "versions", "in_colab", "PROFILES"],
    "hdrlab.io": ["read_image", "read_hdr", "read_ldr", "write_hdr", "write_ldr"],
    "hdrlab.data.scenes": ["list_scenes", "scene_info", "load_scene", "split_scenes", "resize_area", "center_crop",
                           "random_crop", "perspective_crop", "dynamic_range_stops", "data_dir"],
    "hdrlab.imaging.camera": ["expose", "simulate_brackets", "linearize", "auto_exposure", "ev_to_time",
                              "time_to_ev", "quantize", "clipped_fraction", "NoiseModel"],
    "hdrlab.imaging.crf": ["RESPONSE_CURVES", "ResponseCurve", "get_response_curve", "BIT_DEPTHS", "sample_pixels",
                           "debevec_system", "recover_debevec", "recover_robertson", "log_inverse_response",
                           "response_error_stops"],
    "hdrlab.imaging.weights": ["WEIGHTS", "exposure_weight", "weight_lut"],
    "hdrlab.imaging.merge": ["merge_debevec", "mertens_fusion"],
    "hdrlab.imaging.tonemap": ["luminance", "srgb_encode", "srgb_decode", "reinhard_global", "log_average_luminance",
                               "gamma_encode", "reinhard_local", "mu_law", "log_display", "normalize_hdr", "TONEMAPS",
                               "apply_tonemap"],
    "hdrlab.metrics": ["psnr", "ssim", "ms_ssim", "mu_psnr", "tonemapped_psnr", "tonemapped_ssim", "log_error_stops",
                       "LPIPS"],
    "hdrlab.viz": ["scene_grid", "log_luminance_histograms", "response_curves", "bracket", "image_row", "exposure_view",
                   "response_recovery", "false_colour_log_luminance", "recovery_view", "tonemap_view"],
    "hdrlab.widgets": ["exposure_explorer", "recovery_explorer", "tonemap_explorer"],
    "hdrlab.checks": ["check_environment", "check_auto_exposure", "check_camera", "check_dynamic_range",
                      "check_hat_weight", "check_debevec_rows", "check_reinhard_global"],
    "hdrlab.course": ["record", "run_course", "clean_notebook", "relink"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not missing
    if hasattr(loaded, "__all__"):
        assert not [name for name in PUBLIC[module] if name not in loaded.__all__ and name != "__version__"]
