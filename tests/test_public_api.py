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
    "hdrlab.imaging.merge": ["merge_debevec", "piecewise_linear_lookup", "merge_debevec_differentiable", "synthesize_hdr",
                             "mertens_fusion"],
    "hdrlab.imaging.tonemap": ["luminance", "srgb_encode", "srgb_decode", "reinhard_global", "log_average_luminance",
                               "gamma_encode", "reinhard_local", "mu_law", "log_display", "normalize_hdr", "TONEMAPS",
                               "apply_tonemap"],
    "hdrlab.metrics": ["psnr", "ssim", "ms_ssim", "mu_psnr", "tonemapped_psnr", "tonemapped_ssim", "log_error_stops",
                       "LPIPS"],
    "hdrlab.viz": ["scene_grid", "log_luminance_histograms", "response_curves", "bracket", "image_row", "exposure_view",
                   "response_recovery", "false_colour_log_luminance", "recovery_view", "tonemap_view",
                  "training_curves", "adaptation_view", "reexposure_view", "bracket_comparison", "hdr_comparison",
                   "lookup_view", "merge_gradient_view", "recursion_view"],
    "hdrlab.widgets": ["exposure_explorer", "recovery_explorer", "tonemap_explorer", "adaptation_explorer",
                       "reexposure_explorer", "recursion_explorer"],
    "hdrlab.checks": ["check_environment", "check_auto_exposure", "check_camera", "check_dynamic_range",
                      "check_hat_weight", "check_debevec_rows", "check_reinhard_global",
                      "check_expandnet_loss", "check_inner_step", "check_metahdr_ordering", "check_exposure_mask",
                      "check_representation_loss", "check_multiexposure_effect", "check_lookup_slope",
                      "check_soft_histogram", "check_controlled_comparison"],
    "hdrlab.course": ["record", "run_course", "clean_notebook", "relink"],
    "hdrlab.errors": ["NonFiniteLossError"],
    "hdrlab.train": ["fit", "FitResult", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "load_weights",
                     "is_main_process", "distributed_info", "AMP_CHOICES", "PROGRESS_CHOICES", "METRICS_COLUMNS"],
    "hdrlab.data.datasets": ["DRTMO_EVS", "DRTMO_TIMES", "DRTMO_T_REF", "DEFAULT_CRFS", "SPLIT_SEED", "SceneCrops",
                             "LDRHDRPairs", "ExposurePairs", "BracketStacks", "MetaTasks", "StackPairs",
                             "simulate_drtmo_stack", "item_generator"],
    "hdrlab.data.public": ["JangPairs", "DrTMOBrackets", "VDS", "HDREye", "SingleHDRReal", "DRTMO_FILES",
                           "JANG_EXPOSURES", "VDS_EVS", "CROPS"],
    "hdrlab.nn": ["ACTIVATIONS", "activation", "NORMS", "norm2d", "ConvNormAct", "ConvStack", "DoubleConv",
                  "UPSAMPLE_MODES", "Upsample2x", "icnr_", "count_parameters", "UNet", "ConvGRUCell",
                  "ConditionalInstanceNorm2d", "load_hub_weights", "VGG19_LAYERS", "VGG19Features", "l1_loss",
                  "cosine_loss", "expandnet_loss", "perceptual_loss", "PerceptualLoss", "total_variation",
                  "mu_law_loss", "soft_histogram", "histogram_loss", "sobel_edges", "edge_loss",
                  "contextual_bilateral_loss", "CoBiLoss"],
    "hdrlab.nn.pretrained": ["load_hub_weights", "load_matching", "checkpoint_path", "check_pretrained"],
    "hdrlab.nn.features": ["VGG19_LAYERS", "VGG19Features", "VGG19_URL", "IMAGENET_MEAN", "IMAGENET_STD"],
    "hdrlab.nn.losses": ["COBI_MAX_POSITIONS"],
    "hdrlab.methods.expandnet": ["PROFILES", "BASELINES", "TARGETS", "Settings", "ExpandNet", "encode_target",
                                 "loss_terms", "predict", "held_out_pairs", "evaluate", "train_expandnet",
                                 "load_trained", "load_reference_weights", "REFERENCE_WEIGHTS_URL"],
    "hdrlab.methods.metahdr": ["PROFILES", "Settings", "EVS", "HEADS", "BACKENDS", "LABELS", "LOSSES", "ROWS",
                               "DISPLAY_GAMMA", "MetaUNet", "label", "decode", "make_loss", "FunctionalLearner",
                               "adapt", "meta_loss", "supervised_loss", "WithSimulatedLabels", "held_out_tasks",
                               "evaluate_tasks", "results_table", "train_metahdr", "train_conventional",
                               "load_trained"],
    "hdrlab.methods.multiexposure": ["MASK_THRESHOLD", "LOSS_WEIGHTS", "exposure_mask", "SubPixelUpsample", "PROFILES",
                                     "CAMERA_CRFS", "ABLATIONS", "build_model", "generate", "naive_reexposure",
                                     "merge_bracket", "held_out_brackets", "evaluate", "stack_table", "hdr_table",
                                     "train_multiexposure", "load_trained"],
    "hdrlab.methods.hybrid": ["MAX_HDR_VALUE", "keep_pair", "DIHEDRAL", "DIHEDRAL_INVERSE", "dihedral", "undo_dihedral",
                              "alignment_display", "align_pair", "LogStats", "to_log_domain", "from_log_domain",
                              "ldr_to_input", "reinhard_display", "checkerboard_score", "MOBILENET_V3_LARGE_URL",
                              "ENCODER_STAGES", "ENCODER_STRIDES", "ENCODER_CHANNELS", "ENCODER_PARAMETERS",
                              "UPSAMPLERS", "DECODER_MULTIPLIERS", "MobileNetEncoder", "HybridAutoencoder",
                              "SATURATION_START", "saturation_weight", "HybridLoss"],
    "hdrlab.methods.recursive": ["EVS", "STEPS", "CANNY_SIGMA", "CANNY_THRESHOLDS", "LOSS_WEIGHTS", "HDR_MU", "STAGES",
                                 "canny_edges", "RecurrentUNet", "StopNet", "RecursiveHDRNet", "DirectStackNet",
                                 "hdr_loss", "RecursiveLoss", "loss_terms", "Settings", "PROFILES", "ABLATIONS",
                                 "settings_for", "build_model", "stage_parameters", "generate", "held_out_brackets",
                                 "evaluate", "stack_table", "hdr_table", "ablation_table", "train_recursive",
                                 "load_trained"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not missing
    if hasattr(loaded, "__all__"):
        assert not [name for name in PUBLIC[module] if name not in loaded.__all__ and name != "__version__"]
