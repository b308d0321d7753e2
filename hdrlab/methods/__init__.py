"""One module per method the course trains: model, loss, training step, evaluation protocol.

:mod:`hdrlab.methods.expandnet` is the single-image LDR->HDR baseline every
chapter compares against (and MetaHDR's simulated-label generator);
:mod:`hdrlab.methods.metahdr` is chapter 2 (MAML over scene tasks);
:mod:`hdrlab.methods.multiexposure` is chapter 3 (a bracket generated from one LDR, then merged);
:mod:`hdrlab.methods.recursive` is chapter 4 (recursive bracket generation trained through a differentiable merge);
:mod:`hdrlab.methods.hybrid` is chapter 5 (a frozen ImageNet encoder with a pixel-shuffle decoder on log HDR).

Example:
    >>> from hdrlab.methods import expandnet
    >>> expandnet.PROFILES["quick"].steps > 0
    True

Taught in: notebooks/02_metahdr.ipynb, 03_multi_exposure_generation.ipynb,
04_differentiable_recursion.ipynb, 05_hybrid_autoencoder.ipynb
"""

from hdrlab.methods import expandnet, hybrid, metahdr, multiexposure, recursive

__all__ = ["expandnet", "metahdr", "multiexposure", "recursive", "hybrid"]
