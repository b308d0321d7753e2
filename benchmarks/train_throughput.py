"""Training throughput of hdrlab.train.fit: ExpandNet and a U-Net at 256 px, plain vs channels_last vs AMP.

Each model is trained through :func:`hdrlab.train.fit` on an in-memory
synthetic LDR/HDR dataset (so the data pipeline is not what is measured) in
four variants: plain float32, ``channels_last``, AMP, and both. AMP is bf16
autocast on the CPU and ``amp="auto"`` (bf16 where supported, else fp16 with
a GradScaler) on CUDA. Images/s are measured as the difference between a run
of ``1 + steps`` steps and a run of 1 step, so model construction, the first
(warm-up) step and the engine's set-up cancel out. All variants run in the
same process, one after another; compare ratios, not absolute numbers, and
only from a quiet machine.

Then the cost of hdrlab's input validation: the plain variant of each model again
with every ``check_*`` function of :mod:`hdrlab.validate` and :mod:`hdrlab.nn.blocks`
replaced by a pass-through (in every hdrlab module that imported it), alternating
with the checked runs (``--repeats`` pairs, each pair in the other order than the one
before, medians). ``validation_overhead`` is
``1 - checked / unchecked`` images/s, the mean over the models (target <= 0.02).

The last line is machine-readable:
    ratio_best_vs_plain=<geometric mean over the models of best variant / plain> <model>_best=<variant> ...
    validation_overhead=<fraction> <model>_overhead=<fraction> ...

Usage: python benchmarks/train_throughput.py [--quick] [--size 256] [--batch 4] [--steps 3] [--repeats 5]
[--device auto]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

import torch

from hdrlab import env, train, validate
from hdrlab.methods.expandnet import ExpandNet, loss_terms
from hdrlab.nn import UNet, blocks, expandnet_loss

VARIANTS = {"plain": (False, False), "channels_last": (True, False), "amp": (False, True),
            "channels_last+amp": (True, True)}


class _Synthetic(torch.utils.data.Dataset):
    """``count`` random LDR/HDR pairs of ``size`` px, made once."""

    def __init__(self, count: int, size: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.hdr = torch.rand(count, 3, size, size, generator=generator) * 4
        self.ldr = self.hdr.clamp(0, 1) ** (1 / 2.2)

    def __len__(self) -> int:
        return len(self.hdr)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"ldr": self.ldr[index], "hdr": self.hdr[index]}


def _unet_step(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return expandnet_loss(model(batch["ldr"]), batch["hdr"] / (1 + batch["hdr"]))


MODELS = {
    "expandnet": (lambda: ExpandNet(64), loss_terms),
    "unet": (lambda: UNet(levels=4, base_width=32, head="sigmoid"), _unet_step),
}


def _seconds(model_name: str, variant: str, data, steps: int, batch: int, device: str) -> float:
    build, step = MODELS[model_name]
    channels_last, amp = VARIANTS[variant]
    amp_choice = ("auto" if env.device(device).type == "cuda" else "bf16") if amp else "off"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train.fit(build(), data, step, steps=steps, batch_size=batch, optimizer=functools.partial(torch.optim.Adam,
                  lr=1e-4), device=device, amp=amp_choice, channels_last=channels_last, progress="none", out_dir=out)
        if env.device(device).type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def images_per_second(model_name: str, variant: str, data, steps: int, batch: int, device: str) -> float:
    """Global images/s of ``steps`` steps after the first, through fit."""
    warm = _seconds(model_name, variant, data, 1, batch, device)
    full = _seconds(model_name, variant, data, 1 + steps, batch, device)
    return steps * batch / max(full - warm, 1e-9)


@contextlib.contextmanager
def validation_off() -> Iterator[int]:
    """Every ``check_*`` of hdrlab.validate and hdrlab.nn.blocks a pass-through, wherever imported; yields how many."""
    checks = {f for module in (validate, blocks) for name, f in vars(module).items()
              if name.startswith("check_") and callable(f)}
    replaced = [(module, name, value) for module_name, module in list(sys.modules.items())
                if module_name.startswith("hdrlab") and module is not None
                for name, value in list(vars(module).items()) if callable(value) and value in checks]
    for module, name, _ in replaced:
        setattr(module, name, lambda *args, **kwargs: args[0] if args else None)  # checks that return pass it on
    try:
        yield len(replaced)
    finally:
        for module, name, value in replaced:
            setattr(module, name, value)


def validation_overhead(model_name: str, data, steps: int, batch: int, device: str, repeats: int) -> float:
    """``1 - checked / unchecked`` images/s of the plain variant (medians of alternating runs).

    The pairs alternate which run goes first (checked, unchecked, unchecked, checked, ...), so a drift of
    the machine or a warm-up after the previous run does not count as the checks' cost.
    """
    checked, unchecked = [], []
    for repeat in range(repeats):
        for off in ((False, True) if repeat % 2 == 0 else (True, False)):
            with validation_off() if off else contextlib.nullcontext():
                speed = images_per_second(model_name, "plain", data, steps, batch, device)
            (unchecked if off else checked).append(speed)
    return 1 - statistics.median(checked) / statistics.median(unchecked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 px, batch 2, 2 steps (a smoke run for the tests)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="checked/unchecked run pairs for validation_overhead")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    size, batch, steps = (64, 2, 2) if args.quick else (args.size, args.batch, args.steps)
    repeats = 1 if args.quick else args.repeats
    data = _Synthetic(batch * (steps + 1), size)
    device = env.device(args.device)
    print(f"device={device} size={size} batch={batch} steps={steps} torch={torch.__version__} "
          f"threads={torch.get_num_threads()}")
    ratios, best = [], {}
    for model_name in MODELS:
        rates = {v: images_per_second(model_name, v, data, steps, batch, str(device)) for v in VARIANTS}
        for variant, rate in rates.items():
            print(f"{model_name:10s} {variant:18s} {rate:8.2f} images/s  x{rate / rates['plain']:.3f}")
        best[model_name] = max(rates, key=rates.get)
        ratios.append(rates[best[model_name]] / rates["plain"])
    geometric = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"ratio_best_vs_plain={geometric:.3f} " + " ".join(f"{m}_best={v}" for m, v in best.items()))
    overheads = {m: validation_overhead(m, data, steps, batch, str(device), repeats) for m in MODELS}
    print(f"validation_overhead={statistics.mean(overheads.values()):.4f} "
          + " ".join(f"{m}_overhead={o:.4f}" for m, o in overheads.items()))


if __name__ == "__main__":
    main()
