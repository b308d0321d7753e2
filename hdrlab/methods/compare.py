"""Every chapter's method on the same held-out ground: the items, and each method as a predictor (chapter 6).

The chapters score their methods their own papers' ways, on their own crops.
Here every method gets the same input, the EV-0 shot of a held-out scene, and
returns linear radiance that :func:`hdrlab.evaluate.leaderboard` scores with
one protocol (:func:`hdrlab.evaluate.score_hdr`). What a method sees beyond
that shot is said in its row (:attr:`hdrlab.evaluate.Method.sees`): MetaHDR's
adaptation sees two more exposures *and* the scene's true HDR as their labels
(its paper's protocol), the true-bracket merge sees three exposures (an upper
bound, not a competitor).

- :func:`held_out_items`: the test scenes (or validation), each through
  :data:`CRFS`, at one size per profile (:data:`SIZES`), with the EV -2/0/+2 bracket.
- :func:`baseline_methods`: the LDR read as radiance, and linearised with gamma 2.2.
- :func:`chapter_models`: each chapter's model from its notebook's run folder,
  trained there first when the folder has no finished run.
- :func:`chapter_methods`: those models as :class:`hdrlab.evaluate.Method` rows.

Example:
    >>> items = held_out_items("quick")
    >>> len(items), tuple(items[0]["ldr"].shape), items[0]["evs"]
    (12, (3, 64, 128), (-2.0, 0.0, 2.0))

Taught in: notebooks/06_capstone.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from hdrlab import env
from hdrlab.data import scenes as scene_data
from hdrlab.evaluate import Method
from hdrlab.imaging import camera
from hdrlab.methods import expandnet, hybrid, metahdr, multiexposure, recursive
from hdrlab.nn import count_parameters
from hdrlab.validate import check_choice, check_mapping, check_records

__all__ = ["CRFS", "EVS", "SIZES", "RUNS", "EXPANDNET_STEPS", "FIXED_RULES", "SINGLE_IMAGE_METHODS", "UPPER_BOUND", "held_out_items", "baseline_methods",
           "chapter_models", "chapter_methods", "hybrid_log_range"]

#: Response curves of the held-out shots: a display curve and two camera curves (film, digital).
CRFS = ("srgb", "film-soft", "digital-knee")
#: The bracket of each item, EV relative to the scene's auto exposure; the input is the EV-0 shot.
EVS = (-2.0, 0.0, 2.0)
#: Longest side of the held-out scenes per profile (cropped to multiples of 32, the hybrid encoder's stride).
SIZES = {"quick": 128, "gpu": 512, "full": 512}
#: The chapters' run folders, relative to the notebooks' folder (each notebook's ``RUNS`` + the run's name).
RUNS = {"expandnet": "runs/03_multi_exposure/expandnet", "metahdr": "runs/02_metahdr/meta_true",
        "multiexposure": "runs/03_multi_exposure/reference", "recursive": "runs/04_recursive/reference",
        "hybrid": "runs/05_hybrid/pixel_shuffle"}
#: The rows of :func:`chapter_methods` by role: the fixed rules, the methods that see only the EV-0 shot and
#: learned something, and the upper bound.
FIXED_RULES = ("LDR input", "LDR, inverse gamma 2.2")
SINGLE_IMAGE_METHODS = ("ExpandNet (ch. 2-5 baseline)", "MetaHDR, single shot (ch. 2)", "multi-exposure + merge (ch. 3)",
                        "recursive + merge (ch. 4)", "hybrid autoencoder (ch. 5)")
UPPER_BOUND = "true bracket, merged (upper bound)"
#: ExpandNet's steps per profile as notebook 03 trains it (None: its profile's own).
EXPANDNET_STEPS = {"quick": 100, "gpu": 1000, "full": None}


def held_out_items(profile: str = "auto", split: str = "test") -> list[dict]:
    """The held-out scenes, one item per scene and response curve: the EV-0 shot, its bracket and its HDR.

    Each scene is loaded at ``SIZES[profile]``, cropped to multiples of 32
    (:func:`hdrlab.methods.hybrid.crop_to_stride`), exposed 8-bit without noise at
    ``t = auto_exposure * 2**ev`` for each of :data:`EVS`; the reference is
    ``hdr = radiance * t_ref`` (EV-0 units: 1 is the EV-0 shot's white).

    Args:
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``.
        split: ``"test"`` (the leaderboard) or ``"val"`` (choices, e.g. :func:`hybrid_log_range`).

    Returns:
        Dicts ``{"scene", "crf", "ldr" (3, H, W), "hdr" (3, H, W), "bracket" (3, 3, H, W), "evs"}``.

    Raises:
        ChoiceError: unknown profile or split.

    Taught in: notebooks/06_capstone.ipynb
    """
    profile = env.profile(profile)
    check_choice(split, "split", ("test", "val"))
    items = []
    for name in scene_data.split_scenes(seed=0)[split]:
        radiance = hybrid.crop_to_stride(scene_data.load_scene(name, max_side=SIZES[profile]))
        t_ref = float(camera.auto_exposure(radiance))
        for curve in CRFS:
            bracket = torch.stack([camera.expose(radiance, t_ref * 2.0**ev, curve) for ev in EVS])
            items.append({"scene": name, "crf": curve, "ldr": bracket[EVS.index(0.0)], "hdr": radiance * t_ref,
                          "bracket": bracket, "evs": EVS})
    return items


def baseline_methods() -> list[Method]:
    """The fixed rules every learned method must beat: the LDR read as radiance, and linearised with gamma 2.2.

    Example:
        >>> [method.name for method in baseline_methods()]
        ['LDR input', 'LDR, inverse gamma 2.2']

    Taught in: notebooks/06_capstone.ipynb
    """
    return [Method(FIXED_RULES[0], lambda item: expandnet.baseline_hdrs(item["ldr"])["ldr"]),
            Method(FIXED_RULES[1], lambda item: expandnet.baseline_hdrs(item["ldr"])["ldr_gamma"])]


def chapter_models(profile: str = "auto", runs: Mapping[str, str] | None = None, *, device: str = "auto",
                   seed: int = 0, pretrained: bool | str = "auto", fresh: bool = False) -> dict[str, nn.Module]:
    """Each chapter's model from its run folder, as the chapter's notebook trains it (trained here if absent).

    The same calls, arguments and folders as notebooks 02-05 (``resume="auto"``): a finished run
    is loaded, an interrupted one resumed, a missing one trained in ``profile``.

    Args:
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``.
        runs: ``{model: run folder}`` for the keys of :data:`RUNS` (None: :data:`RUNS`, relative to the
            working directory, the notebooks' folder).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: the training seed (the chapters' ``SEED``).
        pretrained: ImageNet weights for the models that use them (the chapters' ``PRETRAINED``).
        fresh: train every run again (the chapters' ``FRESH``).

    Returns:
        ``{"expandnet", "metahdr", "multiexposure", "recursive", "hybrid": model}``.

    Raises:
        DTypeError, ChoiceError: ``runs`` not a mapping with the keys of :data:`RUNS`; see each ``train_*``
            (a run folder trained with other settings raises there, naming the folder).

    Taught in: notebooks/06_capstone.ipynb
    """
    profile = env.profile(profile)
    runs = check_mapping(RUNS if runs is None else runs, "runs", RUNS)
    common = {"device": device, "seed": seed, "resume": "auto", "overwrite": fresh}
    return {
        "expandnet": expandnet.train_expandnet(runs["expandnet"], profile, steps=EXPANDNET_STEPS[profile], **common)[0],
        "metahdr": metahdr.train_metahdr(runs["metahdr"], profile, labels="true", **common)[0],
        "multiexposure": multiexposure.train_multiexposure(runs["multiexposure"], profile, pretrained=pretrained,
                                                           **common)[0],
        "recursive": recursive.train_recursive(runs["recursive"], profile, pretrained=pretrained, **common)[0],
        "hybrid": hybrid.train_hybrid(runs["hybrid"], profile, ablation="pixel_shuffle", pretrained=pretrained,
                                      **common)[0],
    }


def hybrid_log_range(pairs: list[Mapping]) -> hybrid.LogStats:
    """The hybrid model's log range for a new image: the median ``log1p`` min and max over validation pairs.

    The hybrid autoencoder predicts ``log1p`` radiance normalised by the *target's* own
    min and max, which a new LDR does not come with. The leaderboard's rule: one range for
    every image, the median of the validation targets' ranges (never the test scenes'; of an
    even count, the lower of the two middle values).

    Args:
        pairs: dicts with ``hdr`` ``(3, H, W)`` radiance in EV-0 units (e.g. :func:`held_out_items` of
            ``"val"``).

    Returns:
        :class:`hdrlab.methods.hybrid.LogStats` with ``(1, 1, 1)`` float64 ``low`` and ``high``.

    Raises:
        DTypeError: ``pairs`` not a list of dicts with ``hdr``. RangeError: no pairs; invalid radiance.

    Example:
        >>> stats = hybrid_log_range([{"hdr": torch.full((3, 2, 2), peak)} for peak in (1.0, 3.0, 7.0)])
        >>> round(float(torch.expm1(stats.high)), 3)
        3.0
    """
    ranges = [hybrid.to_log_domain(pair["hdr"])[1] for pair in check_records(pairs, "pairs", ("hdr",))]
    low = torch.stack([r.low.reshape(()) for r in ranges]).median()
    high = torch.stack([r.high.reshape(()) for r in ranges]).median()
    return hybrid.LogStats(low.reshape(1, 1, 1), high.reshape(1, 1, 1))


def _metahdr_radiance(model: nn.Module, item: Mapping, settings: metahdr.Settings | None) -> torch.Tensor:
    """MetaHDR's radiance (EV-0 units) for the item's EV-0 shot: single shot (``settings`` None), or adapted
    with ``settings``' inner steps and rate."""
    device = next(model.parameters()).device
    query = item["ldr"].unsqueeze(0).to(device)
    if settings is not None:  # the paper's protocol: the scene's other exposures, labelled with its true HDR
        support = item["bracket"][[i for i, ev in enumerate(item["evs"]) if ev != 0.0]].to(device)
        labels = metahdr.label(item["hdr"].to(device)).expand_as(support)
        learner = metahdr.adapt(model, support, labels, steps=settings.inner_steps, inner_lr=settings.inner_lr,
                                first_order=True, create_graph=False)
    else:
        learner = model
    with torch.no_grad():
        return metahdr.decode(learner(query))[0].to(item["ldr"].device)


def chapter_methods(models: Mapping[str, nn.Module], profile: str = "auto",
                    hybrid_range: hybrid.LogStats | None = None) -> list[Method]:
    """The leaderboard's rows: the baselines, every chapter's method, and the true-bracket merge (upper bound).

    Args:
        models: what :func:`chapter_models` returned.
        profile: the profile the models were trained in (MetaHDR adapts with its inner steps and rate).
        hybrid_range: the hybrid model's log range (None: :func:`hybrid_log_range` of the validation items).

    Returns:
        :class:`hdrlab.evaluate.Method` rows, in the course's order.

    Raises:
        DTypeError, ChoiceError: ``models`` not a mapping with the keys of :data:`RUNS`.

    Taught in: notebooks/06_capstone.ipynb
    """
    profile = env.profile(profile)
    models = check_mapping(models, "models", RUNS)
    inner = metahdr.PROFILES[profile]
    size = {name: count_parameters(model, trainable_only=False) for name, model in models.items()}
    if hybrid_range is None:
        hybrid_range = hybrid_log_range(held_out_items(profile, "val"))
    stack_evs = list(multiexposure.PROFILES[profile].eval_evs)
    recursive_evs = [float(ev) for ev in range(-recursive.STEPS, recursive.STEPS + 1)]
    return [
        *baseline_methods(),
        Method(SINGLE_IMAGE_METHODS[0], lambda item: expandnet.predict(models["expandnet"], item["ldr"]),
               size["expandnet"]),
        Method(SINGLE_IMAGE_METHODS[1], lambda item: _metahdr_radiance(models["metahdr"], item, None),
               size["metahdr"]),
        Method("MetaHDR, adapted (ch. 2)", lambda item: _metahdr_radiance(models["metahdr"], item, inner),
               size["metahdr"], "the scene's other exposures, labelled with its true HDR"),
        Method(SINGLE_IMAGE_METHODS[2], lambda item: multiexposure.merge_bracket(
            multiexposure.generate(models["multiexposure"], item["ldr"], stack_evs), stack_evs),
            size["multiexposure"]),
        Method(SINGLE_IMAGE_METHODS[3], lambda item: multiexposure.merge_bracket(
            recursive.generate(models["recursive"], item["ldr"]), recursive_evs),
            size["recursive"]),
        Method(SINGLE_IMAGE_METHODS[4], lambda item: hybrid.from_log_domain(
            hybrid.predict(models["hybrid"], item["ldr"]), hybrid_range), size["hybrid"]),
        Method(UPPER_BOUND, lambda item: multiexposure.merge_bracket(
            item["bracket"], list(item["evs"])), 0, "the scene's whole bracket (EV -2, 0, +2 on the held-out items)"),
    ]
