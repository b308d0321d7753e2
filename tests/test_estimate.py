"""The time estimate every training prints first, and the HDRLAB_MAX_STEPS cap."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from torch import nn

from hdrlab import estimate, train
from hdrlab.errors import ChoiceError


def linear_step(model: nn.Module, batch: list) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def dropout_data() -> torch.utils.data.TensorDataset:
    x = torch.linspace(-1, 1, 64).reshape(16, 4)
    return torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))


def dropout_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))


def fit_dropout(progress: str, **kwargs) -> tuple[nn.Module, train.FitResult]:
    model = dropout_model()
    result = train.fit(model, dropout_data(), linear_step, steps=6, batch_size=4,
                       optimizer=functools.partial(torch.optim.SGD, lr=0.1), device="cpu", progress=progress,
                       **kwargs)
    return model, result


def test_measure_step_counts_a_linear_layer_exactly_and_changes_nothing():
    model = nn.Linear(4, 3)
    batch = [torch.rand(8, 4), torch.rand(8, 3)]
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rng = torch.get_rng_state()
    cost = estimate.measure_step(model, linear_step, batch, device=torch.device("cpu"), data_seconds=0.5)
    # forward addmm 2*8*4*3 = 192, backward weight gradient 192 (the input needs no gradient)
    assert cost.flops == 384
    assert cost.step_seconds > 0 and cost.data_seconds == 0.5 and cost.device == "cpu"
    assert 2 <= cost.ops < 20  # addmm, mse_loss and its backward, the weight gradient ...
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_estimate_scales_with_steps_and_flops():
    cost = estimate.StepCost(flops=4e12, step_seconds=1.0, data_seconds=0.5, device="cpu", ops=100)
    assert cost.minutes(120) == pytest.approx(3.0)
    assert cost.t4_minutes(120) == pytest.approx(120 * (1.0 + 0.5) / 60)  # 4e12 FLOP at 4e12 FLOP/s: 1 s a step
    assert "about 3.0 min on this device" in cost.describe(120)


def test_fit_prints_the_estimate_before_the_first_step(capsys):
    fit_dropout("text")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training 6 steps: about ") and "on a Colab T4 about" in lines[0]
    assert lines[1].startswith("step ")


def test_measuring_leaves_the_training_bit_identical():
    measured, _ = fit_dropout("text")
    silent, _ = fit_dropout("none")  # no measurement without progress
    for a, b in zip(measured.state_dict().values(), silent.state_dict().values()):
        assert torch.equal(a, b)


def test_a_step_that_uses_randomness_would_differ_without_the_restore():
    # negative control for the test above: the dropout step does consume the RNG
    torch.manual_seed(0)
    model = dropout_model()
    batch = dropout_data()[:4]
    state = torch.get_rng_state()
    linear_step(model, list(batch)).backward()
    assert not torch.equal(torch.get_rng_state(), state)


def test_max_steps_caps_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv(train.MAX_STEPS_VARIABLE, "2")
    _, result = fit_dropout("text")
    assert result.step == 2
    out = capsys.readouterr().out
    assert "training 6 steps" in out and "HDRLAB_MAX_STEPS=2: this run stops at step 2 of its 6" in out


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_max_steps_is_refused(monkeypatch, value):
    monkeypatch.setenv(train.MAX_STEPS_VARIABLE, value)
    with pytest.raises(ChoiceError, match="HDRLAB_MAX_STEPS as a positive integer"):
        fit_dropout("none")


def test_estimates_are_recorded_for_training_and_evaluation(monkeypatch, tmp_path):
    log = tmp_path / "estimates.jsonl"
    monkeypatch.setenv(estimate.ESTIMATES_VARIABLE, str(log))
    fit_dropout("none", evaluate=lambda net: {"w": float(net[0].weight.sum())}, eval_every=4,
                out_dir=tmp_path / "run")
    train_row, eval_row, fit_row = [json.loads(line) for line in log.read_text().splitlines()]
    assert fit_row["kind"] == "fit" and fit_row["seconds"] > 0
    assert train_row["kind"] == "train" and train_row["steps"] == 6 and train_row["flops"] > 0
    assert train_row["run"] == str(tmp_path / "run")
    assert eval_row["flops"] == 0.0 and eval_row["ops"] > 0 and eval_row["evaluations"] == 2


@pytest.mark.parametrize(("minutes", "text"), [(0.001, "1 s"), (0.5, "30 s"), (9.94, "9.9 min"), (119, "119 min"),
                                               (120, "2.0 h"), (2880, "2.0 days")])
def test_duration(minutes, text):
    assert estimate.duration(minutes) == text
