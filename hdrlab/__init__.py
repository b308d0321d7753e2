"""hdrlab: the package behind the hdrlab course on HDR imaging.

Import it as ``import hdrlab as hl`` and call ``hl.setup()`` at the top of a
notebook. Conventions (DESIGN §2): float32 tensors, channels first; LDR images in
[0, 1]; HDR radiance linear, ``>= 0`` and never clamped; exposure stacks
``(B, N, 3, H, W)`` with times ``(B, N)`` in seconds.

Example:
    >>> import hdrlab as hl
    >>> hl.REPOSITORY
    'hdrlab-course/hdrlab'
"""

from hdrlab import _compat

_compat.enable_opencv_exr()
_compat.ensure_torchvision()

__version__ = "0.1.0"

#: The public GitHub repository (owner/name). Colab badges, the Colab install cell
#: and the README use it; after changing it, run ``python -m hdrlab relink`` to
#: rewrite the README and notebook links (a test checks they agree).
REPOSITORY = "hdrlab-course/hdrlab"


def colab_url(notebook: str = "00_getting_started.ipynb", branch: str = "main") -> str:
    """The Colab link that opens the student edition ``student/<notebook>`` from :data:`REPOSITORY`.

    Example:
        >>> colab_url("01_camera_pipeline_debevec.ipynb")
        'https://colab.research.google.com/github/hdrlab-course/hdrlab/blob/main/student/01_camera_pipeline_debevec.ipynb'
    """
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{branch}/student/{notebook}"


from hdrlab import env, errors, validate  # noqa: E402
from hdrlab.env import device, profile, seed_everything, setup  # noqa: E402

__all__ = [
    "REPOSITORY", "colab_url", "env", "errors", "validate",
    "device", "profile", "seed_everything", "setup", "__version__",
]
