"""Run environment: seeds, device, profile and a versions report.

Example:
    >>> import hdrlab
    >>> hdrlab.env.profile("quick")
    'quick'
    >>> hdrlab.env.device("cpu").type
    'cpu'

Taught in: notebooks/00_getting_started.ipynb (and the setup cell of every chapter).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

from hdrlab.errors import ChoiceError, describe

__all__ = ["PROFILES", "Setup", "seed_everything", "pin_threads", "device", "profile", "in_colab", "versions", "setup"]

#: The three scales every notebook runs at (DESIGN §3): ``quick`` (a 2-core CPU, minutes), ``gpu`` (one free
#: Colab GPU, at most ~15 minutes a chapter) and ``full`` (the paper's recipe, hours to days; only by name).
PROFILES = ("quick", "gpu", "full")
_PROFILE_VARIABLE = "HDRLAB_PROFILE"
_THREADS_VARIABLE = "HDRLAB_THREADS"
_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice (physical cores, or OMP_NUM_THREADS) at import
_REPORTED_PACKAGES = (
    "torch", "torchvision", "numpy", "opencv-python-headless", "lpips",
    "pytorch-msssim", "learn2learn", "matplotlib", "ipywidgets", "papermill",
)


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) so CPU runs are bit-reproducible.

    With a CUDA GPU it also asks for deterministic kernels (cuDNN's deterministic
    algorithms, no autotuning, ``torch.use_deterministic_algorithms`` warning where an
    operation has none), so a GPU run repeats too, at some cost in speed.

    Args:
        seed: a non-negative integer.

    Returns:
        The seed, for logging.

    Raises:
        ChoiceError: seed is not a non-negative integer.

    Example:
        >>> _ = seed_everything(3); a = torch.rand(2)
        >>> _ = seed_everything(3); bool((a == torch.rand(2)).all())
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ChoiceError(describe("a non-negative integer seed", repr(seed), "Pass e.g. SEED = 0."))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def pin_threads(count: int | str = "auto") -> int:
    """Fix the number of CPU threads torch computes with, and return it.

    Results on the CPU can change in their last bits with the thread count (sums are
    split differently), and a trained model's scores with them: a run is repeatable
    only at the same count, so :func:`setup` pins it, prints it, and every training
    records it in its ``settings.json`` (``torch_threads``).

    Args:
        count: a positive integer, or ``"auto"``: the ``HDRLAB_THREADS`` environment
            variable when set, else torch's default (its count of physical cores, or
            ``OMP_NUM_THREADS``).

    Returns:
        The pinned count.

    Raises:
        ChoiceError: count (or ``HDRLAB_THREADS``) is not a positive integer.

    Example:
        >>> pin_threads(1)
        1
        >>> torch.get_num_threads()
        1
        >>> _ = pin_threads()  # back to the default
    """
    source = "count"
    if count == "auto":
        source, count = _THREADS_VARIABLE, os.environ.get(_THREADS_VARIABLE, _DEFAULT_THREADS)
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ChoiceError(describe(f"{source} to be a positive integer number of threads (or count='auto')",
                                   repr(count), "Pass e.g. pin_threads(2), or set HDRLAB_THREADS=2."))
    torch.set_num_threads(count)
    return count


def device(preference: str = "auto") -> torch.device:
    """Pick the torch device: ``"auto"`` is CUDA when available, else CPU.

    Args:
        preference: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ChoiceError: unknown name, or CUDA asked for where there is none.
    """
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cpu":
        return torch.device("cpu")
    if isinstance(preference, str) and preference.split(":")[0] == "cuda":
        if not torch.cuda.is_available():
            raise ChoiceError(
                describe(
                    "a CUDA GPU for device 'cuda'", "no CUDA device on this machine",
                    "Use DEVICE = 'auto' (falls back to the CPU, stated in the output) "
                    "or open the notebook on Colab with a GPU runtime.",
                )
            )
        return torch.device(preference)
    raise ChoiceError(describe("device 'auto', 'cpu' or 'cuda[:N]'", repr(preference), "Pick one of those."))


def profile(name: str = "auto") -> str:
    """Resolve a run profile to ``"quick"``, ``"gpu"`` or ``"full"`` (DESIGN §3).

    ``"auto"`` is the value of ``HDRLAB_PROFILE`` when set (CI sets ``quick``),
    else ``"quick"`` without a GPU and ``"gpu"`` with one. ``"full"`` (hours to
    days) runs only when named, here or in ``HDRLAB_PROFILE``; every training
    prints its time estimate before it starts.

    Args:
        name: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``.

    Returns:
        ``"quick"``, ``"gpu"`` or ``"full"``.

    Raises:
        ChoiceError: unknown name, in the argument or in ``HDRLAB_PROFILE``.
    """
    if name == "auto":
        from_env = os.environ.get(_PROFILE_VARIABLE, "").strip()
        if from_env:
            if from_env not in PROFILES:
                raise ChoiceError(
                    describe(f"{_PROFILE_VARIABLE} in {PROFILES}", repr(from_env),
                             "Unset it or set it to 'quick', 'gpu' or 'full'.")
                )
            return from_env
        return "gpu" if torch.cuda.is_available() else "quick"
    if name not in PROFILES:
        raise ChoiceError(describe("profile 'auto', 'quick', 'gpu' or 'full'", repr(name),
                                   "Set PROFILE to one of those."))
    return name


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def versions() -> dict[str, str]:
    """Versions of Python, hdrlab and the stack (``"not installed"`` where missing).

    Example:
        >>> sorted(versions())[:2]
        ['hdrlab', 'ipywidgets']
    """
    from hdrlab import __version__

    found = {"python": platform.python_version(), "hdrlab": __version__}
    for package in _REPORTED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` resolved: the seed, the device, the profile and the CPU thread count."""

    seed: int
    device: torch.device
    profile: str
    threads: int


def _configure_matplotlib() -> None:
    import matplotlib

    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython: nothing to configure
        shell = None
    else:
        shell = get_ipython()
    if shell is not None and "ipykernel" in sys.modules:
        shell.run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update({"figure.dpi": 100, "figure.figsize": (8, 4), "image.interpolation": "nearest"})


def _gpu_hint(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    if in_colab():
        return "No GPU: in Colab choose Runtime > Change runtime type > T4 GPU for the gpu profile."
    from hdrlab import colab_url

    return f"No GPU: the quick profile runs here; for the gpu profile open the notebook on Colab ({colab_url()})."


# setup() takes parameters named like these functions; it calls them by these names.
_resolve_device = device
_resolve_profile = profile


def setup(seed: int = 0, device: str = "auto", profile: str = "auto", threads: int | str = "auto",
          verbose: bool = True) -> Setup:
    """Prepare a notebook: seed, device, profile, pinned CPU threads, matplotlib inline; print what was chosen.

    Args:
        seed: seed for :func:`seed_everything`.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``, resolved by :func:`hdrlab.env.device`.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``, resolved by :func:`hdrlab.env.profile`.
        threads: torch's CPU thread count, pinned by :func:`pin_threads` (``"auto"``: its default).
        verbose: print the versions, profile and device.

    Returns:
        A :class:`Setup` with the resolved seed, device and profile.

    Raises:
        ChoiceError: see :func:`seed_everything`, :func:`device`, :func:`profile`, :func:`pin_threads`; a
            ``verbose`` that is not a bool.

    Example:
        >>> setup(seed=1, profile="quick", verbose=False).profile
        'quick'
    """
    if not isinstance(verbose, bool):
        raise ChoiceError(describe("verbose as True or False", repr(verbose), "Pass verbose=True or verbose=False."))
    chosen = Setup(seed_everything(seed), _resolve_device(device), _resolve_profile(profile), pin_threads(threads))
    _configure_matplotlib()
    if verbose:
        print("hdrlab setup")
        for package, version in versions().items():
            print(f"  {package:<24}{version}")
        print(f"  {'profile':<24}{chosen.profile}")
        print(f"  {'device':<24}{chosen.device}")
        print(f"  {'seed':<24}{chosen.seed}")
        print(f"  {'cpu threads':<24}{chosen.threads}")
        print(_gpu_hint(chosen.device))
    return chosen
