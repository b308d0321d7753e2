"""hdrlab vs OpenCV: Debevec-Malik response recovery + radiance merge, same stacks, same process.

Stacks are simulated from embedded real scenes with a known response curve and
known exposure times (3 and 5 exposures, 2 EV apart around the auto exposure,
8-bit), at 1024x512 (the Blender panoramas' native size) and at 2048x1024
(bilinear upsampling of the radiance). Each library gets its native input
(hdrlab: a float32 tensor in [0, 1]; OpenCV: a list of uint8 BGR arrays); the
conversion is not timed. Time = calibrate + merge, median over repeats.

Errors, both in stops:
    crf_err  RMS of recovered log inverse response minus the truth over the
             well-exposed code range (codes 5 %-95 %), per-channel offset removed
             (the absolute scale of g is unknowable).
    rad_err  median |log2 E_est - log2 E_true| over pixel channels well exposed
             (value in [0.05, 0.95]) in at least one frame, after removing the
             global scale offset (median log ratio).

The last line is machine-readable:
    ratio_time=<hdrlab/opencv> crf_err_hdrlab=.. crf_err_opencv=.. rad_err_hdrlab=.. rad_err_opencv=..

Usage: python benchmarks/debevec_vs_opencv.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from hdrlab.data import scenes
from hdrlab.imaging import camera, crf, merge

SCENES = ("blender_city", "blender_courtyard", "blender_interior")
CURVE = "film-soft"
BRACKETS = {3: [-2.0, 0.0, 2.0], 5: [-4.0, -2.0, 0.0, 2.0, 4.0]}
WELL_EXPOSED = (0.05, 0.95)


def _opencv_input(stack: torch.Tensor) -> list[np.ndarray]:
    codes = (stack * 255).round().to(torch.uint8)
    return [np.ascontiguousarray(frame.permute(1, 2, 0).numpy()[..., ::-1]) for frame in codes]


def _median_time(fn, repeats: int, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _hdrlab(stack, times):
    g = crf.recover_debevec(stack, times, generator=torch.Generator().manual_seed(0))
    return g, merge.merge_debevec(stack, times, g)


def _opencv(images, times):
    exposure = times.numpy().astype(np.float32)
    response = cv2.createCalibrateDebevec().process(images, exposure)
    radiance = cv2.createMergeDebevec().process(images, exposure, response)
    g = torch.from_numpy(np.log(response[:, 0, ::-1].T.copy()))  # (3, 256) RGB, ln of linear response
    rgb = torch.from_numpy(radiance[..., ::-1].copy()).permute(2, 0, 1)
    return g, rgb


def _radiance_error(estimate: torch.Tensor, truth: torch.Tensor, stack: torch.Tensor) -> float:
    low, high = WELL_EXPOSED
    seen = ((stack >= low) & (stack <= high)).any(dim=0) & (estimate > 0) & (truth > 0)
    log_ratio = torch.log2(estimate[seen].double()) - torch.log2(truth[seen].double())
    return float((log_ratio - log_ratio.median()).abs().median())


def _radiance(name: str, scale: int) -> torch.Tensor:
    radiance = scenes.load_scene(name)
    if scale == 1:
        return radiance
    return F.interpolate(radiance[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]


def run(quick: bool, repeats: int) -> dict[str, float]:
    names = SCENES[:1] if quick else SCENES
    scales = (1,) if quick else (1, 2)
    g_true = crf.log_inverse_response(crf.get_response_curve(CURVE), 8)
    totals = {"hdrlab": 0.0, "opencv": 0.0}
    errors = {key: [] for key in ("crf_hdrlab", "crf_opencv", "rad_hdrlab", "rad_opencv")}
    print(f"{'scene':<18}{'size':>10}{'N':>3}{'hdrlab s':>10}{'opencv s':>10}"
          f"{'crf err h/o (stops)':>22}{'rad err h/o (stops)':>22}")
    for name in names:
        for scale in scales:
            radiance = _radiance(name, scale)
            if quick:
                radiance = scenes.resize_area(radiance, (128, 256))
            for n, evs in BRACKETS.items():
                stack, times = camera.simulate_brackets(radiance, evs, CURVE, unit="ev")
                images = _opencv_input(stack)
                t_h, (g_h, e_h) = _median_time(_hdrlab, repeats, stack, times)
                t_o, (g_o, e_o) = _median_time(_opencv, repeats, images, times)
                totals["hdrlab"] += t_h
                totals["opencv"] += t_o
                row = {
                    "crf_hdrlab": crf.response_error_stops(g_h, g_true),
                    "crf_opencv": crf.response_error_stops(g_o, g_true),
                    "rad_hdrlab": _radiance_error(e_h, radiance, stack),
                    "rad_opencv": _radiance_error(e_o, radiance, stack),
                }
                for key, value in row.items():
                    errors[key].append(value)
                size = f"{radiance.shape[2]}x{radiance.shape[1]}"
                print(f"{name:<18}{size:>10}{n:>3}{t_h:>10.3f}{t_o:>10.3f}"
                      f"{row['crf_hdrlab']:>11.4f}/{row['crf_opencv']:<10.4f}{row['rad_hdrlab']:>11.4f}/{row['rad_opencv']:<10.4f}")
    result = {"ratio_time": totals["hdrlab"] / totals["opencv"]}
    result.update({f"{key.split('_')[0]}_err_{key.split('_')[1]}": statistics.mean(v) for key, v in errors.items()})
    print(f"torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}; totals: "
          f"hdrlab {totals['hdrlab']:.2f} s, opencv {totals['opencv']:.2f} s; errors are means over rows")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small scene (a smoke run for the tests)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per configuration (median)")
    args = parser.parse_args()
    r = run(args.quick, args.repeats)
    print(f"ratio_time={r['ratio_time']:.3f} crf_err_hdrlab={r['crf_err_hdrlab']:.4f} crf_err_opencv={r['crf_err_opencv']:.4f} "
          f"rad_err_hdrlab={r['rad_err_hdrlab']:.4f} rad_err_opencv={r['rad_err_opencv']:.4f}")


if __name__ == "__main__":
    main()
