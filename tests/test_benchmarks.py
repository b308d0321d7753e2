"""The benchmark scripts run and keep their machine-readable last line (no timing assertions)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAST_LINE = re.compile(
    r"^ratio_time=\d+\.\d{3} crf_err_hdrlab=\d+\.\d{4} crf_err_opencv=\d+\.\d{4} "
    r"rad_err_hdrlab=\d+\.\d{4} rad_err_opencv=\d+\.\d{4}$"
)


def test_debevec_vs_opencv_quick_run():
    command = [sys.executable, str(ROOT / "benchmarks" / "debevec_vs_opencv.py"), "--quick", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert LAST_LINE.match(last), last
    errors = dict(item.split("=") for item in last.split())
    assert all(0 <= float(v) < 1 for k, v in errors.items() if k.startswith(("crf", "rad")))


THROUGHPUT_LAST_LINE = re.compile(r"^ratio_best_vs_plain=\d+\.\d{3} expandnet_best=\S+ unet_best=\S+$")


def test_train_throughput_quick_run():
    command = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--quick"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert THROUGHPUT_LAST_LINE.match(lines[-1]), lines[-1]
    assert len([line for line in lines if "images/s" in line]) == 8  # 2 models x 4 variants
