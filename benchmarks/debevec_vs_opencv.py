"""hdrlab vs OpenCV: Debevec-Malik response recovery + radiance merge, same stacks, same process.

Stacks are simulated from embedded real scenes with a known response curve and
known exposure times, 8-bit: 3 and 5 exposures 2 EV apart and 16 exposures
1 EV apart (the shape of Debevec's classic stack, 32 s to 1/1024 s) around the
auto exposure, at 1024x512 (the Blender panoramas' native size) and 2048x1024
(bilinear upsampling of the radiance). Each library gets its native input, what
it would read from 8-bit files: hdrlab a uint8 ``(N, 3, H, W)`` tensor, OpenCV a
list of uint8 BGR arrays; the conversion is not timed. Time = calibrate + merge,
median over ``--repeats`` runs. A 12-bit row (uint16 codes, ``bits=12``) is timed
for hdrlab alone (OpenCV's HDR module takes 8-bit input only).

Errors, both in stops:
    crf_err  RMS of recovered log inverse response minus the truth over the
             well-exposed code range (codes 5 %-95 %), per-channel offset removed
             (the absolute scale of g is unknowable).
    rad_err  median |log2 E_est - log2 E_true| over pixel channels well exposed
             (value in [0.05, 0.95]) in at least one frame, after removing the
             global scale offset (median log ratio).

``--load``: for every 8-bit row, hdrlab is also timed (median of ``max(5, --repeats)``)
while a separate CPU-bound process runs: a small torch CNN training loop with
torch's default threads (all cores), started by this script and paused with
SIGSTOP while the quiet times are taken (SIGCONT for the loaded ones, quiet and
loaded alternate row by row, so slow drifts of the machine hit both).
``slowdown_loaded`` = sum of loaded medians / sum of quiet medians, hdrlab only.

``--fullres``: a 7-frame 24 MP bracket (6000 x 4000, EVs -6..6 in 2-EV steps),
8-bit. Each library runs in a child process that imports its libraries, loads
the stack from a .npy file in its own native layout (hdrlab: uint8 (N, 3, H, W);
OpenCV: uint8 (N, H, W, 3) BGR), runs calibrate + merge once, and reports the
kernel's high-water mark of the child's resident memory (``VmHWM`` in
``/proc/self/status``; ``ru_maxrss`` would carry the parent's peak across
``exec``) after that run, minus the child's resident memory just before loading
the stack (where the mark is reset to it by writing 5 to ``/proc/self/clear_refs``): the stack, the output, every
temporary and any lazily initialised library state, as the OS saw it (torch's
allocator is invisible to tracemalloc). Its time is the median of that run and
``--repeats - 1`` more; then it computes the errors. ``peak_mb_limit`` = 1.5 x the 8-bit stack + the float32
output (3 x H x W x 4 bytes).

Lines that start with ``frames=`` summarise each bracket size; ``fullres`` the
24 MP bracket. The last line is machine-readable:
    ratio_time=<hdrlab/opencv> crf_err_hdrlab=.. crf_err_opencv=.. rad_err_hdrlab=.. rad_err_opencv=..
    [slowdown_loaded=..]

Usage: python benchmarks/debevec_vs_opencv.py [--quick] [--repeats N] [--load] [--fullres]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from hdrlab.data import scenes
from hdrlab.imaging import camera, crf, merge

SCENES = ("blender_city", "blender_courtyard", "blender_interior")
CURVE = "film-soft"
BRACKETS = {3: [-2.0, 0.0, 2.0], 5: [-4.0, -2.0, 0.0, 2.0, 4.0], 16: [float(ev) for ev in range(-8, 8)]}
FULLRES_SIZE, FULLRES_EVS = (4000, 6000), [-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]
WELL_EXPOSED = (0.05, 0.95)
LOAD_REPEATS = 5


def _opencv_input(codes: torch.Tensor) -> list[np.ndarray]:
    return [np.ascontiguousarray(frame.permute(1, 2, 0).numpy()[..., ::-1]) for frame in codes]


def _median_time(fn, repeats: int, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _hdrlab(stack, times, bits=None):
    g = crf.recover_debevec(stack, times, bits=bits, generator=torch.Generator().manual_seed(0))
    return g, merge.merge_debevec(stack, times, g, bits=bits)


def _opencv(images, times):
    exposure = times.numpy().astype(np.float32)
    response = cv2.createCalibrateDebevec().process(images, exposure)
    radiance = cv2.createMergeDebevec().process(images, exposure, response)
    g = torch.from_numpy(np.log(response[:, 0, ::-1].T.copy()))  # (3, 256) RGB, ln of linear response
    rgb = torch.from_numpy(radiance[..., ::-1].copy()).permute(2, 0, 1)
    return g, rgb


def _radiance_error(estimate: torch.Tensor, truth: torch.Tensor, codes: torch.Tensor, top: int) -> float:
    low, high = (round(v * top) for v in WELL_EXPOSED)
    codes = codes if codes.dtype == torch.uint8 else codes.int()  # uint16 has no comparisons
    seen = ((codes >= low) & (codes <= high)).any(dim=0) & (estimate > 0) & (truth > 0)
    log_ratio = torch.log2(estimate[seen].double()) - torch.log2(truth[seen].double())
    return float((log_ratio - log_ratio.median()).abs().median())


def _radiance(name: str, scale: int) -> torch.Tensor:
    radiance = scenes.load_scene(name)
    if scale == 1:
        return radiance
    return F.interpolate(radiance[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]


def _codes(stack: torch.Tensor, bits: int) -> torch.Tensor:
    top = 2**bits - 1
    return (stack * top).round().to(torch.uint8 if bits == 8 else torch.uint16)


# --- the competing load -----------------------------------------------------------------------------


def _load_worker() -> None:
    """A small CNN trained forever on random crops (torch's default threads): a learner's training kernel."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(32, 3, 3, padding=1))
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(8, 3, 64, 64)
    print("ready", flush=True)
    while True:
        loss = (net(x) - x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class _Load:
    """The load process: started once, paused (SIGSTOP) and resumed (SIGCONT) around measurements."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--load-worker"], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "ready": torch imported, first step done
        self.pause()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        time.sleep(0.2)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        time.sleep(0.5)  # its threads busy again

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait()


# --- the table --------------------------------------------------------------------------------------


def run(quick: bool, repeats: int, load: bool) -> dict[str, float]:
    names = SCENES[:1] if quick else SCENES
    scales = (1,) if quick else (1, 2)
    g_true = crf.log_inverse_response(crf.get_response_curve(CURVE), 8)
    per_n: dict[int, dict[str, list[float]]] = {n: {} for n in BRACKETS}
    loaded = {"quiet": 0.0, "loaded": 0.0}
    competitor = _Load() if load else None
    print(f"{'scene':<18}{'size':>10}{'N':>3}{'hdrlab s':>10}{'opencv s':>10}"
          f"{'crf err h/o (stops)':>22}{'rad err h/o (stops)':>22}" + ("   quiet/loaded s (hdrlab)" if load else ""))
    try:
        for name in names:
            for scale in scales:
                radiance = _radiance(name, scale)
                if quick:
                    radiance = scenes.resize_area(radiance, (128, 256))
                for n, evs in BRACKETS.items():
                    stack, times = camera.simulate_brackets(radiance, evs, CURVE, unit="ev")
                    codes = _codes(stack, 8)
                    images = _opencv_input(codes)
                    t_h, (g_h, e_h) = _median_time(_hdrlab, repeats, codes, times)
                    t_o, (g_o, e_o) = _median_time(_opencv, repeats, images, times)
                    row = {
                        "hdrlab": t_h, "opencv": t_o,
                        "crf_hdrlab": crf.response_error_stops(g_h, g_true),
                        "crf_opencv": crf.response_error_stops(g_o, g_true),
                        "rad_hdrlab": _radiance_error(e_h, radiance, codes, 255),
                        "rad_opencv": _radiance_error(e_o, radiance, codes, 255),
                    }
                    for key, value in row.items():
                        per_n[n].setdefault(key, []).append(value)
                    size = f"{radiance.shape[2]}x{radiance.shape[1]}"
                    line = (f"{name:<18}{size:>10}{n:>3}{t_h:>10.3f}{t_o:>10.3f}{row['crf_hdrlab']:>11.4f}/"
                            f"{row['crf_opencv']:<10.4f}{row['rad_hdrlab']:>11.4f}/{row['rad_opencv']:<10.4f}")
                    if competitor is not None:
                        quiet, busy = _quiet_and_loaded(competitor, codes, times, max(LOAD_REPEATS, repeats))
                        loaded["quiet"] += quiet
                        loaded["loaded"] += busy
                        line += f"   {quiet:.3f}/{busy:.3f}"
                    print(line, flush=True)
                if name == names[0] and scale == 1:
                    _twelve_bit_row(name, radiance, repeats)
    finally:
        if competitor is not None:
            competitor.stop()
    totals = {key: sum(sum(rows[key]) for rows in per_n.values()) for key in ("hdrlab", "opencv")}
    print(f"torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}; totals: "
          f"hdrlab {totals['hdrlab']:.2f} s, opencv {totals['opencv']:.2f} s; errors are means over rows")
    for n, rows in per_n.items():
        print(f"frames={n} " + _summary(rows))
    everything = {key: [v for rows in per_n.values() for v in rows[key]] for key in per_n[3]}
    result = _summary_values(everything)
    if load:
        result["slowdown_loaded"] = loaded["loaded"] / loaded["quiet"]
    return result


def _quiet_and_loaded(competitor: _Load, codes: torch.Tensor, times: torch.Tensor, repeats: int) -> tuple[float, float]:
    quiet, _ = _median_time(_hdrlab, repeats, codes, times)
    competitor.resume()
    try:
        busy, _ = _median_time(_hdrlab, repeats, codes, times)
    finally:
        competitor.pause()
    return quiet, busy


def _twelve_bit_row(name: str, radiance: torch.Tensor, repeats: int) -> None:
    """hdrlab alone on 12-bit codes (uint16, bits=12), 5 exposures."""
    stack, times = camera.simulate_brackets(radiance, BRACKETS[5], CURVE, unit="ev", bits=12)
    codes = _codes(stack, 12)
    t_h, (g_h, e_h) = _median_time(_hdrlab, max(1, repeats // 3), codes, times, 12)
    crf_err = crf.response_error_stops(g_h, crf.log_inverse_response(crf.get_response_curve(CURVE), 12))
    rad_err = _radiance_error(e_h, radiance, codes, 4095)
    size = f"{radiance.shape[2]}x{radiance.shape[1]}"
    print(f"{name + ' 12-bit':<18}{size:>10}{5:>3}{t_h:>10.3f}{'-':>10}{crf_err:>11.4f}/{'-':<10}{rad_err:>11.4f}/-")


def _summary_values(rows: dict[str, list[float]]) -> dict[str, float]:
    result = {"ratio_time": sum(rows["hdrlab"]) / sum(rows["opencv"])}
    result.update({f"{key.split('_')[0]}_err_{key.split('_')[1]}": statistics.mean(rows[key])
                   for key in ("crf_hdrlab", "crf_opencv", "rad_hdrlab", "rad_opencv")})
    return result


def _summary(rows: dict[str, list[float]]) -> str:
    return _format(_summary_values(rows))


def _format(r: dict[str, float]) -> str:
    line = (f"ratio_time={r['ratio_time']:.3f} crf_err_hdrlab={r['crf_err_hdrlab']:.4f} "
            f"crf_err_opencv={r['crf_err_opencv']:.4f} rad_err_hdrlab={r['rad_err_hdrlab']:.4f} "
            f"rad_err_opencv={r['rad_err_opencv']:.4f}")
    return line + (f" slowdown_loaded={r['slowdown_loaded']:.3f}" if "slowdown_loaded" in r else "")


# --- the 24 MP bracket, each library in its own process ---------------------------------------------


def _memory_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, in KiB (Linux)."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def _fullres_child(library: str, folder: str, repeats: int) -> None:
    """Run one library on the saved bracket; print a JSON line with its peak memory, time and errors."""
    times = torch.from_numpy(np.load(Path(folder) / "times.npy"))
    Path("/proc/self/clear_refs").write_text("5")  # the peak mark starts again from the resident memory now
    before = _memory_kib("VmRSS")
    if library == "hdrlab":
        codes = torch.from_numpy(np.load(Path(folder) / "hdrlab.npy"))
        start = time.perf_counter()
        g, estimate = _hdrlab(codes, times)
    else:
        frames = np.load(Path(folder) / "opencv.npy")
        images = list(frames)  # views of the (N, H, W, 3) BGR array, no copy
        start = time.perf_counter()
        g, estimate = _opencv(images, times)
        codes = torch.from_numpy(frames).permute(0, 3, 1, 2).flip(1)  # RGB view for the error, after the peak
    first = time.perf_counter() - start
    peak_mb = (_memory_kib("VmHWM") - before) / 1024
    timings = [first]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        _hdrlab(codes, times) if library == "hdrlab" else _opencv(images, times)
        timings.append(time.perf_counter() - start)
    truth = torch.from_numpy(np.load(Path(folder) / "radiance.npy"))
    g_true = crf.log_inverse_response(crf.get_response_curve(CURVE), 8)
    print(json.dumps({"time": statistics.median(timings), "peak_mb": peak_mb,
                      "crf_err": crf.response_error_stops(g, g_true),
                      "rad_err": _radiance_error(estimate, truth, codes, 255)}))


def run_fullres(repeats: int, size: tuple[int, int] = FULLRES_SIZE) -> dict[str, float]:
    """The 24 MP bracket: simulate frame by frame into uint8, save, run each library in a child process."""
    radiance = _radiance(SCENES[0], 2)
    radiance = F.interpolate(radiance[None], size=size, mode="bilinear", align_corners=False)[0]
    n, (height, width) = len(FULLRES_EVS), size
    t_ref = camera.auto_exposure(radiance)
    codes = np.empty((n, 3, height, width), np.uint8)
    times = torch.empty(n)
    for i, ev in enumerate(FULLRES_EVS):
        frame, frame_time = camera.simulate_brackets(radiance, [ev], CURVE, unit="ev", t_ref=float(t_ref))
        codes[i] = _codes(frame[0], 8).numpy()
        times[i] = frame_time[0]
        del frame
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "hdrlab.npy", codes)
        np.save(Path(folder) / "opencv.npy", np.ascontiguousarray(codes.transpose(0, 2, 3, 1)[..., ::-1]))
        np.save(Path(folder) / "radiance.npy", radiance.numpy())
        np.save(Path(folder) / "times.npy", times.numpy())
        del codes, radiance
        for library in ("hdrlab", "opencv"):
            done = subprocess.run([sys.executable, __file__, "--fullres-child", library, folder, "--repeats",
                                   str(repeats)], capture_output=True, text=True, check=True)
            results[library] = json.loads(done.stdout.strip().splitlines()[-1])
    stack_mb = n * 3 * height * width / 2**20
    limit = 1.5 * stack_mb + 3 * height * width * 4 / 2**20
    h, o = results["hdrlab"], results["opencv"]
    print(f"{'fullres':<18}{f'{width}x{height}':>10}{n:>3}{h['time']:>10.3f}{o['time']:>10.3f}"
          f"{h['crf_err']:>11.4f}/{o['crf_err']:<10.4f}{h['rad_err']:>11.4f}/{o['rad_err']:<10.4f}")
    line = {"ratio_time": h["time"] / o["time"], "crf_err_hdrlab": h["crf_err"], "crf_err_opencv": o["crf_err"],
            "rad_err_hdrlab": h["rad_err"], "rad_err_opencv": o["rad_err"]}
    print(f"fullres {_format(line)} peak_mb_hdrlab={h['peak_mb']:.0f} peak_mb_opencv={o['peak_mb']:.0f} "
          f"peak_mb_limit={limit:.0f}")
    return line


def main() -> None:
    if sys.argv[1:2] == ["--load-worker"]:
        _load_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small scene (a smoke run for the tests)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per configuration (median)")
    parser.add_argument("--load", action="store_true", help="also time hdrlab beside a CPU-bound training process")
    parser.add_argument("--fullres", action="store_true", help="also run the 7-frame 24 MP bracket (minutes)")
    parser.add_argument("--fullres-size", type=int, nargs=2, default=FULLRES_SIZE, metavar=("H", "W"),
                        help="size of the --fullres bracket (smaller for smoke tests)")
    parser.add_argument("--fullres-child", nargs=2, metavar=("LIBRARY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fullres_child:
        _fullres_child(*args.fullres_child, repeats=args.repeats)
        return
    result = run(args.quick, args.repeats, args.load)
    if args.fullres:
        run_fullres(args.repeats, tuple(args.fullres_size))
    print(_format(result))


if __name__ == "__main__":
    main()
