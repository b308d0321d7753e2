"""Pretrained (ImageNet / hub) weights, used when present and asked for explicitly when required.

One helper for every backbone hdrlab loads (the LPIPS backbones, VGG19 for
perceptual and CoBi losses, MobileNetV3 for the hybrid autoencoder). Weights
come from the torch hub cache (``torch.hub.get_dir()/checkpoints``, which
follows ``$TORCH_HOME``) or a download. Machines without internet cannot
download them (DESIGN §5), so the caller says what it wants:

- ``pretrained=True``: the weights or a :class:`~hdrlab.errors.MissingWeightsError`
  naming the cache file and the manual route;
- ``pretrained="auto"``: the weights when they can be had, otherwise one
  printed line saying that random weights are used, and ``None``;
- ``pretrained=False``: ``None`` without trying.

Example:
    >>> load_hub_weights("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "VGG19", False) is None
    True
    >>> os.path.basename(checkpoint_path("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"))
    'vgg19-dcbb9e9d.pth'

Taught in: notebooks/03_multi_exposure_generation.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping

import torch
from torch import nn

from hdrlab.errors import ChoiceError, DTypeError, MissingWeightsError, describe

__all__ = ["PRETRAINED_CHOICES", "check_pretrained", "checkpoint_path", "load_hub_weights", "load_matching"]

#: The accepted values of every ``pretrained`` argument in hdrlab.
PRETRAINED_CHOICES = (True, False, "auto")


def check_pretrained(pretrained: object) -> None:
    """Raise :class:`~hdrlab.errors.ChoiceError` unless ``pretrained`` is True, False or ``"auto"``.

    Example:
        >>> check_pretrained("auto")
        >>> check_pretrained(1)
        Traceback (most recent call last):
        ...
        hdrlab.errors.ChoiceError: Expected pretrained True, False or 'auto', got 1. Use 'auto' (weights when available, else random, with a notice).
    """
    if not (pretrained is True or pretrained is False or pretrained == "auto"):
        raise ChoiceError(describe("pretrained True, False or 'auto'", repr(pretrained),
                                   "Use 'auto' (weights when available, else random, with a notice)."))


def checkpoint_path(url: str, file_name: str | None = None) -> str:
    """Where torch hub caches the file of ``url``: ``torch.hub.get_dir()/checkpoints/<file name>``.

    Args:
        url: the weights' download address.
        file_name: the cache file's name when it is not the URL's last part.

    Returns:
        The absolute path (the file need not exist).
    """
    _check_source(url, file_name)
    return os.path.join(torch.hub.get_dir(), "checkpoints", file_name or os.path.basename(url))


def _check_source(url: object, file_name: object, what: object = "weights") -> None:
    """DTypeError unless ``url`` and ``what`` are non-empty strings and ``file_name`` is None or a bare file name."""
    for value, name in ((url, "url"), (what, "what")):
        if not isinstance(value, str) or not value:
            raise DTypeError(describe(f"{name} as a non-empty string", repr(value),
                                      f"Pass the weights' {'address' if name == 'url' else 'description'} as a str."))
    if file_name is not None and (not isinstance(file_name, str) or not file_name or os.sep in file_name):
        raise DTypeError(describe("file_name None or a bare file name", repr(file_name),
                                  "Pass a name like 'vgg19.pth' (the cache folder is torch.hub's)."))


def load_hub_weights(
    url: str,
    what: str,
    pretrained: bool | str,
    *,
    file_name: str | None = None,
    notice: str | None = None,
) -> dict[str, torch.Tensor] | None:
    """A state dict from the torch hub cache or a download, or None (or an error) when it cannot be had.

    Args:
        url: the weights' download address (e.g. a torchvision ``Weights.url``).
        what: the weights in words, for messages, e.g. ``"the ImageNet VGG19 weights"``.
        pretrained: True (required), ``"auto"`` (when available) or False (never).
        file_name: the cache file's name when it is not the URL's last part.
        notice: the line printed in ``"auto"`` mode when the weights are
            unavailable; default ``"<what> unavailable: RANDOM weights are used."``.
            The message with the manual route follows it on the same line.

    Returns:
        The state dict (tensors on the CPU), or None for ``pretrained=False``
        and for ``"auto"`` when the weights are unavailable.

    Raises:
        ChoiceError: ``pretrained`` is not True, False or ``"auto"``.
        DTypeError: ``url`` or ``what`` not a non-empty string, ``file_name`` not a bare name.
        MissingWeightsError: ``pretrained=True`` and the file is neither cached
            (readable) nor downloadable; the message names the cache file and
            the manual route.

    Example:
        >>> load_hub_weights("https://example.org/weights.pth", "some weights", pretrained=False) is None
        True

    Taught in: notebooks/03_multi_exposure_generation.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """
    check_pretrained(pretrained)
    _check_source(url, file_name, what)
    if pretrained is False:
        return None
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, file_name=file_name, weights_only=True
        )
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:  # URLError is an OSError
        path = checkpoint_path(url, file_name)
        message = describe(
            f"{what} at {path}",
            f"neither a readable cached file nor a download of {url} ({err})",
            f"On a machine with internet, download that URL and copy the file to {path} "
            "(torch.hub.get_dir() follows $TORCH_HOME), or use pretrained=False for random features.",
        )
        if pretrained is True:
            raise MissingWeightsError(message) from err
        print(f"{notice or what + ' unavailable: RANDOM weights are used.'} {message}")
        return None


def load_matching(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    url: str,
    what: str,
    *,
    key_map: Mapping[str, str] | None = None,
    file_name: str | None = None,
) -> None:
    """Copy a downloaded state dict into ``module``, every parameter and buffer of it, or raise.

    Args:
        module: the network to fill.
        state: the state dict from :func:`load_hub_weights`; extra keys are ignored.
        url: the weights' address (names the cache file in the error).
        what: the weights in words.
        key_map: ``module key -> file key`` when the layouts differ (e.g. a
            truncated ``features`` stack: ``{"0.weight": "features.0.weight"}``);
            default: the same keys.
        file_name: the cache file's name when it is not the URL's last part.

    Raises:
        MissingWeightsError: a key is missing or a shape differs; the fix is to
            delete the cache file so that it is downloaded again.
        DTypeError: arguments of the wrong type.

    Example:
        >>> layer = nn.Linear(2, 1)
        >>> load_matching(layer, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, "https://x/w.pth", "w")
        >>> layer.weight.tolist()
        [[1.0, 1.0]]
    """
    _check_source(url, file_name, what)
    if not isinstance(module, nn.Module):
        raise DTypeError(describe("module as an nn.Module", type(module).__name__, "Pass the network to fill."))
    for value, name in ((state, "state"), (key_map, "key_map")):
        if not isinstance(value, Mapping) and not (name == "key_map" and value is None):
            raise DTypeError(describe(f"{name} as a mapping of names", type(value).__name__,
                                      "Pass a state dict (from load_hub_weights) and an optional dict of names."))
    keys = key_map or {key: key for key in module.state_dict()}
    try:
        module.load_state_dict({key: state[source] for key, source in keys.items()})
    except (KeyError, RuntimeError) as err:
        raise MissingWeightsError(
            describe(f"{what} in {checkpoint_path(url, file_name)}", f"a file that does not match ({err!r})",
                     "Delete the file so that it is downloaded again.")
        ) from err
