"""The benchmark scripts run and keep their machine-readable last line (no timing assertions)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = (r"ratio_time=\d+\.\d{3} crf_err_hdrlab=\d+\.\d{4} crf_err_opencv=\d+\.\d{4} "
           r"rad_err_hdrlab=\d+\.\d{4} rad_err_opencv=\d+\.\d{4}")
LAST_LINE = re.compile(rf"^{SUMMARY}( slowdown_loaded=\d+\.\d{{3}})?$")
FRAMES_LINE = re.compile(rf"^frames=(3|5|16) {SUMMARY}$")
FULLRES_LINE = re.compile(rf"^fullres {SUMMARY} peak_mb_hdrlab=\d+ peak_mb_opencv=\d+ peak_mb_limit=\d+$")


def test_debevec_vs_opencv_quick_run():
    command = [sys.executable, str(ROOT / "benchmarks" / "debevec_vs_opencv.py"), "--quick", "--repeats", "1",
               "--load", "--fullres", "--fullres-size", "300", "450"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]) and "slowdown_loaded=" in lines[-1], lines[-1]
    assert sorted(int(FRAMES_LINE.match(line).group(1)) for line in lines if FRAMES_LINE.match(line)) == [3, 5, 16]
    assert len([line for line in lines if FULLRES_LINE.match(line)]) == 1
    assert len([line for line in lines if "12-bit" in line]) == 1
    errors = dict(item.split("=") for item in lines[-1].split())
    assert all(0 <= float(v) < 1 for k, v in errors.items() if k.startswith(("crf", "rad")))
    assert float(errors["slowdown_loaded"]) > 0


HDR_MODULE_LINES = [
    re.compile(r"^mertens ratio_time=\d+\.\d{3} hdrlab_s=\d+\.\d{3} opencv_s=\d+\.\d{3} mean_abs_diff=\d+\.\d{4}$"),
    re.compile(r"^robertson ratio_err=\d+\.\d{3} crf_err_hdrlab=\d+\.\d{4} crf_err_opencv=\d+\.\d{4} "
               r"ratio_time=\d+\.\d{3}$"),
    re.compile(r"^drago max_abs_diff=\S+ tolerance=\S+ ratio_time=\d+\.\d{3} dark_values=\d+ of \d+$"),
    re.compile(r"^mantiuk max_abs_diff=\S+ tolerance=\S+ ratio_time=\d+\.\d{3} dark_values=\d+ of \d+$"),
    re.compile(r"^mtb same_shifts=\d+/\d+ true_shifts=\d+/\d+ ratio_time=\d+\.\d{3}$"),
]


def test_hdr_module_vs_opencv_quick_run():
    command = [sys.executable, str(ROOT / "benchmarks" / "hdr_module_vs_opencv.py"), "--quick", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()[-5:]
    for pattern, line in zip(HDR_MODULE_LINES, lines):
        assert pattern.match(line), line
    values = dict(item.split("=") for line in lines for item in line.split()[1:] if "=" in item and "/" not in item)
    assert float(values["max_abs_diff"]) < 1 and 0 < float(values["crf_err_hdrlab"]) < 1


THROUGHPUT_LAST_LINE = re.compile(r"^ratio_best_vs_plain=\d+\.\d{3} expandnet_best=\S+ unet_best=\S+$")
OVERHEAD_LINE = re.compile(r"^validation_overhead=-?\d+\.\d{4} expandnet_overhead=-?\d+\.\d{4} unet_overhead=-?\d+\.\d{4}$")


def test_train_throughput_quick_run():
    command = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--quick"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert THROUGHPUT_LAST_LINE.match(lines[-2]), lines[-2]
    assert OVERHEAD_LINE.match(lines[-1]), lines[-1]
    assert len([line for line in lines if "images/s" in line]) == 8  # 2 models x 4 variants


def test_validation_off_bypasses_every_check_and_restores_them():
    import importlib.util

    import pytest
    import torch

    from hdrlab import validate
    from hdrlab.errors import RangeError
    from hdrlab.nn import unet

    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bright = torch.full((3, 4, 4), 2.0)
    with bench.validation_off() as replaced:
        assert replaced > 20  # the checks and their imported names across hdrlab
        validate.check_ldr(bright)  # bypassed
        assert unet.check_feature_map("not a tensor", 3) == "not a tensor"  # the name UNet calls, too
    with pytest.raises(RangeError):
        validate.check_ldr(bright)  # restored
