"""Environment shims, applied once at ``import hdrlab``; nothing else lives here.

1. OpenCV reads OpenEXR only when ``OPENCV_IO_ENABLE_OPENEXR=1`` is set before
   ``cv2`` is first imported.
2. ``torchvision==0.28.0`` (the only release for torch 2.13.0) ships CUDA-built
   compiled ops. Beside a CPU torch they do not load, and ``import torchvision``
   fails with "operator torchvision::nms does not exist" because its Python code
   registers fake kernels for ops whose schemas were never defined. Defining the
   two schemas (``nms``, ``qnms``) without kernels lets the pure-Python parts
   (models, transforms) import and run. The shim is applied only when the plain
   import fails, so a working torchvision (Colab, CUDA machines) is untouched.
"""

from __future__ import annotations

import os
import sys

__all__ = ["enable_opencv_exr", "ensure_torchvision", "TORCHVISION_SHIMMED"]

#: True when :func:`ensure_torchvision` had to define the missing op schemas.
TORCHVISION_SHIMMED = False

_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARIES: list[object] = []  # keep the torch.library fragments alive


def enable_opencv_exr() -> None:
    """Set ``OPENCV_IO_ENABLE_OPENEXR=1`` unless the user chose otherwise."""
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")


def _is_missing_op_error(err: BaseException) -> bool:
    return "torchvision::nms" in str(err) or "torchvision::qnms" in str(err)


def ensure_torchvision() -> bool:
    """Make ``import torchvision`` work; return False when torchvision is not installed.

    Raises:
        ImportError/RuntimeError: any torchvision import failure other than the
            known missing-op one is re-raised unchanged.
    """
    global TORCHVISION_SHIMMED
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name == "torchvision":
            return False
        raise
    except RuntimeError as err:
        if not _is_missing_op_error(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torch

        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _OP_SCHEMAS.values():
            library.define(schema)
        _LIBRARIES.append(library)
        import torchvision  # noqa: F401,F811

        TORCHVISION_SHIMMED = True
    return True
