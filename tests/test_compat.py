"""hdrlab._compat: torchvision and lpips import after `import hdrlab` (DESIGN §6)."""

import os
import subprocess
import sys

import pytest

import hdrlab
from hdrlab import _compat


def test_torchvision_models_work_after_import_hdrlab():
    import torchvision

    model = torchvision.models.vgg19(weights=None)
    assert sum(p.numel() for p in model.parameters()) == 143_667_240


def test_lpips_imports_after_import_hdrlab():
    import lpips  # noqa: F401  (imports torchvision models at import time)


def test_fresh_interpreter_import_order():
    """In a new process, `import hdrlab` first makes the two plain imports work."""
    code = "import hdrlab, torchvision, lpips; torchvision.models.vgg19(weights=None); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_shim_applied_only_when_needed():
    """The shim flag agrees with whether torchvision's compiled ops are loadable here."""
    import torch

    has_native_nms = torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "CPU")
    assert _compat.TORCHVISION_SHIMMED == (not has_native_nms)


def test_unrelated_import_errors_are_not_swallowed(monkeypatch):
    def broken_import(name, *args, **kwargs):
        if name == "torchvision":
            raise RuntimeError("something else entirely")
        return real_import(name, *args, **kwargs)

    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", broken_import)
    with pytest.raises(RuntimeError, match="something else entirely"):
        _compat.ensure_torchvision()


def test_opencv_exr_enabled():
    assert os.environ["OPENCV_IO_ENABLE_OPENEXR"] == "1"
    assert hdrlab  # imported for its side effects
