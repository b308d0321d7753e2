"""Fixtures shared by several test files."""

import urllib.error

import pytest
import torch


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """TORCH_HOME in a temporary folder (empty cache) and downloads that fail as they do without internet.

    Returns the hub's checkpoint folder (not created). tests/test_metrics.py keeps its own variant (the hub folder).
    """

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("offline (mocked in tests)")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "hub" / "checkpoints"
