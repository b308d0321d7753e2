"""hdrlab.env: seeds, device, profiles, setup."""

import pytest
import torch

import hdrlab
from hdrlab import env
from hdrlab.errors import ChoiceError


class TestSeedEverything:
    def test_reproducible(self):
        env.seed_everything(5)
        a = (torch.rand(3), torch.randn(2))
        env.seed_everything(5)
        b = (torch.rand(3), torch.randn(2))
        assert all(torch.equal(x, y) for x, y in zip(a, b))

    def test_different_seeds_differ(self):
        env.seed_everything(1)
        a = torch.rand(8)
        env.seed_everything(2)
        assert not torch.equal(a, torch.rand(8))

    @pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
    def test_bad_seed(self, bad):
        with pytest.raises(ChoiceError, match="non-negative integer"):
            env.seed_everything(bad)


class TestDevice:
    def test_auto_matches_cuda_availability(self):
        assert env.device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")

    def test_cpu(self):
        assert env.device("cpu") == torch.device("cpu")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_without_gpu_is_a_clear_error(self):
        with pytest.raises(ChoiceError, match="Colab"):
            env.device("cuda")

    def test_unknown(self):
        with pytest.raises(ChoiceError, match="'auto', 'cpu' or 'cuda"):
            env.device("tpu")


class TestProfile:
    def test_explicit_names(self, monkeypatch):
        monkeypatch.setenv("HDRLAB_PROFILE", "quick")
        assert env.profile("full") == "full"  # an explicit name wins over the variable
        assert env.profile("quick") == "quick"

    @pytest.mark.parametrize("value", ["quick", "gpu", "full"])
    def test_auto_honours_variable(self, monkeypatch, value):
        monkeypatch.setenv("HDRLAB_PROFILE", value)
        assert env.profile("auto") == value

    def test_auto_without_variable_follows_gpu(self, monkeypatch):
        monkeypatch.delenv("HDRLAB_PROFILE", raising=False)
        assert env.profile() == ("gpu" if torch.cuda.is_available() else "quick")

    def test_bad_variable(self, monkeypatch):
        monkeypatch.setenv("HDRLAB_PROFILE", "fast")
        with pytest.raises(ChoiceError, match="HDRLAB_PROFILE"):
            env.profile("auto")

    def test_bad_name(self):
        with pytest.raises(ChoiceError, match="'auto', 'quick', 'gpu' or 'full'"):
            env.profile("medium")


class TestSetup:
    def test_prints_versions_profile_device(self, capsys, monkeypatch):
        monkeypatch.setenv("HDRLAB_PROFILE", "quick")
        chosen = hdrlab.setup(seed=3)
        out = capsys.readouterr().out
        assert chosen == env.Setup(3, env.device(), "quick", torch.get_num_threads())
        for word in ("torch", "numpy", "opencv-python-headless", "profile", "quick", "device", "cpu threads",
                     hdrlab.__version__):
            assert word in out

    def test_pins_threads(self, monkeypatch):
        default = torch.get_num_threads()
        try:
            assert hdrlab.setup(threads=1, verbose=False).threads == 1 == torch.get_num_threads()
            monkeypatch.setenv("HDRLAB_THREADS", "3")
            assert hdrlab.setup(verbose=False).threads == 3 == torch.get_num_threads()
            monkeypatch.delenv("HDRLAB_THREADS")
            assert env.pin_threads() == env._DEFAULT_THREADS
        finally:
            torch.set_num_threads(default)

    @pytest.mark.parametrize("count", [0, -1, 1.5, True, "two", None])
    def test_bad_thread_count(self, count):
        with pytest.raises(ChoiceError, match="positive integer number of threads"):
            env.pin_threads(count)

    def test_bad_thread_variable(self, monkeypatch):
        monkeypatch.setenv("HDRLAB_THREADS", "many")
        with pytest.raises(ChoiceError, match="HDRLAB_THREADS"):
            env.pin_threads()

    @pytest.mark.skipif(torch.cuda.is_available(), reason="the hint is for machines without a GPU")
    def test_colab_hint_without_gpu(self, capsys):
        hdrlab.setup(profile="quick")
        assert hdrlab.colab_url() in capsys.readouterr().out

    def test_seeds(self):
        hdrlab.setup(seed=9, verbose=False)
        a = torch.rand(4)
        hdrlab.setup(seed=9, verbose=False)
        assert torch.equal(a, torch.rand(4))

    def test_versions_report_missing_packages(self, monkeypatch):
        monkeypatch.setattr(env, "_REPORTED_PACKAGES", ("surely-not-a-real-package-xyz",))
        assert env.versions()["surely-not-a-real-package-xyz"] == "not installed"


def test_seed_everything_asks_for_deterministic_kernels_on_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda mode, warn_only=False: calls.append((mode, warn_only)))
    env.seed_everything(0)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert calls == [(True, True)]


def test_seed_everything_leaves_cpu_kernels_alone(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: calls.append(a))
    env.seed_everything(0)
    assert calls == []
