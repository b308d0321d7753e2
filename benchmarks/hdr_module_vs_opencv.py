"""hdrlab vs OpenCV's HDR module beside Debevec: Mertens, Robertson, Drago, Mantiuk, MTB; same inputs, same process.

Brackets are simulated from the embedded Blender scenes (``film-soft`` response,
8-bit, EVs -2, 0, +2 around the auto exposure unless said otherwise) at their
native 1024x512 (``--quick``: one scene at 256x128). Each library gets its native
input, converted outside the timing: hdrlab float32 ``(N, 3, H, W)`` tensors in
[0, 1] (radiance ``(3, H, W)`` for the tone maps), OpenCV lists of uint8 BGR
arrays (float32 HWC radiance). Times are medians of ``--repeats`` runs, summed
over the scenes; ``ratio_time`` = hdrlab / OpenCV.

One line per operator, ``name key=value ...``:

* ``mertens``: ``cv2.createMergeMertens(1, 1, 1)`` (the paper's weights; OpenCV's
  default exposure weight is 0) against :func:`hdrlab.imaging.merge.mertens_fusion`
  (its defaults are the paper's); ``mean_abs_diff`` against OpenCV clipped to [0, 1].
* ``robertson``: ``createCalibrateRobertson()`` against
  :func:`~hdrlab.imaging.crf.recover_robertson` (defaults), 5 exposures 2 EV apart,
  uint8 for both; ``crf_err`` in stops as in ``debevec_vs_opencv.py``;
  ``ratio_err`` = hdrlab / OpenCV (target <= 1).
* ``drago`` / ``mantiuk``: ``createTonemapDrago()`` / ``createTonemapMantiuk()``
  (defaults) against :func:`~hdrlab.imaging.tonemap.drago` / ``mantiuk`` with
  ``luma=OPENCV_LUMA``, OpenCV given RGB order (so its RGB2GRAY weighs R, G, B);
  ``max_abs_diff`` over the display values, against the stated ``tolerance``,
  leaving out pixels whose grey is at most 1e-6 after OpenCV's normalisation
  (the floor it raises every value to; ``dark_values`` counts their values, 4 %
  of these scenes, mostly the interior's black corners): there both compute
  ``RGB / grey`` of numbers at that floor (OpenCV: 0 / 0 = NaN at black, hdrlab
  defines black), where float rounding swings the colour.
* ``mtb``: ``createAlignMTB()`` (``process``) against
  :func:`~hdrlab.imaging.align.align_mtb` (defaults) on brackets whose outer frames
  were translated by known shifts; ``same_shifts`` counts frames where both find
  the same shift, ``true_shifts`` where hdrlab undoes the known motion.

Usage: python benchmarks/hdr_module_vs_opencv.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np
import torch

from hdrlab.data import scenes
from hdrlab.imaging import align, camera, crf, merge, tonemap

SCENES = ("blender_city", "blender_courtyard", "blender_interior")
CURVE = "film-soft"
FUSION_EVS, ROBERTSON_EVS = [-2.0, 0.0, 2.0], [-4.0, -2.0, 0.0, 2.0, 4.0]
MOTIONS = ([(3, -7), (0, 0), (-5, 11)], [(-12, 4), (0, 0), (6, 2)], [(1, 30), (0, 0), (-25, -1)])
TOLERANCE = {"drago": 5e-3, "mantiuk": 5e-3}


def _median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _bgr(codes: torch.Tensor) -> list[np.ndarray]:
    return [np.ascontiguousarray(frame.permute(1, 2, 0).numpy()[..., ::-1]) for frame in codes]


def _rgb(codes: torch.Tensor) -> list[np.ndarray]:
    return [np.ascontiguousarray(frame.permute(1, 2, 0).numpy()) for frame in codes]


def _scenes(quick: bool) -> list[torch.Tensor]:
    names = SCENES[:1] if quick else SCENES
    return [scenes.load_scene(name, max_side=256 if quick else None) for name in names]


def _bracket(radiance: torch.Tensor, evs: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    stack, times = camera.simulate_brackets(radiance, evs, CURVE, unit="ev")
    return stack, times, (stack * 255).round().to(torch.uint8)


def mertens(radiances: list[torch.Tensor], repeats: int) -> str:
    fusion = cv2.createMergeMertens(1.0, 1.0, 1.0)
    total, diffs = {"hdrlab": 0.0, "opencv": 0.0}, []
    for radiance in radiances:
        stack, _, codes = _bracket(radiance, FUSION_EVS)
        images = _bgr(codes)
        t_h, ours = _median_time(lambda: merge.mertens_fusion(stack), repeats)
        t_o, theirs = _median_time(lambda: fusion.process(images), repeats)
        total["hdrlab"] += t_h
        total["opencv"] += t_o
        theirs = torch.from_numpy(theirs[..., ::-1].copy()).permute(2, 0, 1).clamp(0, 1)
        diffs.append(float((ours - theirs).abs().mean()))
    return (f"mertens ratio_time={total['hdrlab'] / total['opencv']:.3f} hdrlab_s={total['hdrlab']:.3f} "
            f"opencv_s={total['opencv']:.3f} mean_abs_diff={statistics.mean(diffs):.4f}")


def robertson(radiances: list[torch.Tensor], repeats: int) -> str:
    calibrate = cv2.createCalibrateRobertson()
    g_true = crf.log_inverse_response(CURVE)
    total, errors = {"hdrlab": 0.0, "opencv": 0.0}, {"hdrlab": [], "opencv": []}
    for radiance in radiances:
        _, times, codes = _bracket(radiance, ROBERTSON_EVS)
        images = _bgr(codes)
        t_h, g = _median_time(lambda: crf.recover_robertson(codes, times), repeats)
        t_o, response = _median_time(lambda: calibrate.process(images, times.numpy()), repeats)
        total["hdrlab"] += t_h
        total["opencv"] += t_o
        errors["hdrlab"].append(crf.response_error_stops(g, g_true))
        g_opencv = torch.from_numpy(np.log(np.maximum(response[:, 0, ::-1].T, 1e-30).copy()))
        errors["opencv"].append(crf.response_error_stops(g_opencv, g_true))
    h, o = statistics.mean(errors["hdrlab"]), statistics.mean(errors["opencv"])
    return (f"robertson ratio_err={h / o:.3f} crf_err_hdrlab={h:.4f} crf_err_opencv={o:.4f} "
            f"ratio_time={total['hdrlab'] / total['opencv']:.3f}")


def tone_map(name: str, radiances: list[torch.Tensor], repeats: int) -> str:
    ours_fn = getattr(tonemap, name)
    theirs_op = cv2.createTonemapDrago() if name == "drago" else cv2.createTonemapMantiuk()
    total, worst, dark, values = {"hdrlab": 0.0, "opencv": 0.0}, 0.0, 0, 0
    for radiance in radiances:
        array = np.ascontiguousarray(radiance.permute(1, 2, 0).numpy())  # RGB order on purpose
        t_h, ours = _median_time(lambda: ours_fn(radiance, luma=tonemap.OPENCV_LUMA), repeats)
        t_o, theirs = _median_time(lambda: theirs_op.process(array.copy()), repeats)  # it floors its input in place
        total["hdrlab"] += t_h
        total["opencv"] += t_o
        theirs = torch.from_numpy(theirs).permute(2, 0, 1)
        grey = tonemap._grey(tonemap._normalise(radiance, 1.0), tonemap.OPENCV_LUMA)
        compared = torch.isfinite(theirs) & (grey > 1e-6)  # OpenCV's floor: below, RGB / grey is ~0 / 0
        dark += int((~compared).sum())
        values += theirs.numel()
        worst = max(worst, float((ours - theirs)[compared].abs().max()))
    return (f"{name} max_abs_diff={worst:.2e} tolerance={TOLERANCE[name]:.0e} "
            f"ratio_time={total['hdrlab'] / total['opencv']:.3f} dark_values={dark} of {values}")


def mtb(radiances: list[torch.Tensor], repeats: int) -> str:
    aligner = cv2.createAlignMTB()
    total, same, true, frames = {"hdrlab": 0.0, "opencv": 0.0}, 0, 0, 0
    for radiance in radiances:
        _, _, codes = _bracket(radiance, FUSION_EVS)
        for motion in MOTIONS:
            moved = torch.stack([align.shift_image(frame, shift) for frame, shift in zip(codes, motion)])
            images = _rgb(moved)  # RGB order: OpenCV's RGB2GRAY then weighs R, G, B as hdrlab does
            t_h, ours = _median_time(lambda: align.align_mtb(moved), repeats)
            t_o, _ = _median_time(lambda: aligner.process(images, []), repeats)
            total["hdrlab"] += t_h
            total["opencv"] += t_o
            base = cv2.cvtColor(images[len(images) // 2], cv2.COLOR_RGB2GRAY)
            for i, (image, shift) in enumerate(zip(images, motion)):
                theirs = [0, 0] if i == len(images) // 2 else list(
                    aligner.calculateShift(base, cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)))[::-1]  # (dy, dx)
                same += ours.shifts[i].tolist() == theirs
                true += ours.shifts[i].tolist() == [-shift[0], -shift[1]]
                frames += 1
    return (f"mtb same_shifts={same}/{frames} true_shifts={true}/{frames} "
            f"ratio_time={total['hdrlab'] / total['opencv']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small scene (a smoke run for the tests)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per configuration (median)")
    args = parser.parse_args()
    radiances = _scenes(args.quick)
    print(f"{len(radiances)} scene(s) {radiances[0].shape[-1]}x{radiances[0].shape[-2]}; torch threads "
          f"{torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}")
    for line in (mertens(radiances, args.repeats), robertson(radiances, args.repeats),
                 tone_map("drago", radiances, args.repeats), tone_map("mantiuk", radiances, args.repeats),
                 mtb(radiances, args.repeats)):
        print(line, flush=True)


if __name__ == "__main__":
    main()
