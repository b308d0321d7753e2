"""The Colab install cell (hdrlab.course.colab): one generated source in every notebook, run in a simulated Colab.

The simulated Colab is a fresh virtual environment in which the install cell runs
exactly as a notebook runs it: a stub ``google.colab`` module is imported first (as
Colab's kernel does), then the cell's source is executed by that environment's
Python, with ``HDRLAB_COLAB_SOURCE`` pointing ``git clone`` at a snapshot of this
checkout (a temporary git repository of its tracked files as the working tree has
them, which on a fresh clone is HEAD; nothing but the package indexes is reached) and ``HDRLAB_COLAB_DIR`` putting the clone under pytest's tmp folder.

What the simulation varies, and why no more:

- Python: 3.11, the interpreter running these tests. Colab runs 3.12, but here
  ``torch==2.13.0`` for 3.12 exists only as PyPI's CUDA build (about 2.7 GB with
  its nvidia-* and triton wheels; measured with ``pip install --dry-run`` on
  3.12.1); the CPU wheel on this machine is cp311 only.
- torch: the same ``2.13.0+cpu`` as ours. The only other torch wheel on this
  machine (2.14.1, 555 MB) is a CUDA build that needs the nvidia-* wheels to load.
- torchvision: the same ``0.28.0``. The other ones here (0.29.x) declare
  ``torch==2.14.*``; beside torch 2.13 that is an inconsistent pair Colab never
  has, and pip refuses to resolve anything next to it.
- numpy: ``2.0.2`` (Colab's numpy) instead of our pin 2.4.6. This is the version
  the cell must not touch.
- Everything else hdrlab needs (scipy, OpenCV, lpips, ...) is absent, so the cell
  installs all of :data:`~hdrlab.course.colab.COLAB_NEEDS` plus learn2learn; on
  real Colab most of them are present and skipped.

The simulation takes about three minutes (pip's cache is reused; learn2learn's
build is about 50 s of it) and runs in every test run, CI included.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hdrlab.course import colab
from hdrlab.course.notebook import TEACHER_DIR, read_notebook, source, tags, write_notebook
from hdrlab.errors import FileFormatError, MissingFileError

ROOT = Path(__file__).resolve().parents[1]
#: The numpy the simulated Colab brings (Colab's own, not our pin).
COLAB_NUMPY = "2.0.2"
_PIP = ("-m", "pip", "install", "-q", "--disable-pip-version-check")


def _notebooks() -> list[Path]:
    return sorted(TEACHER_DIR.glob("[0-9][0-9]_*.ipynb"))


def _pins() -> dict[str, str]:
    """``name -> requirement`` of requirements.txt's exact pins (names lower-cased)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            pins[line.split("==")[0].strip().lower()] = line
    return pins


def _freeze(python: Path) -> list[str]:
    done = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _line(freeze: list[str], name: str) -> str:
    """The ``pip freeze`` line of distribution ``name`` (``name==version`` or ``name @ url``)."""
    found = [line for line in freeze if _canonical(re.split(r"==| @ ", line)[0].strip()) == _canonical(name)]
    assert len(found) == 1, (name, freeze)
    return found[0]


def _make_venv(folder: Path, with_pip: bool = True) -> Path:
    """A fresh venv with a stub ``google.colab`` on its path; returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(folder / "venv")],
                   check=True)
    python = folder / "venv" / "bin" / "python"
    stub = folder / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stub of Colab\'s google.colab module (tests only)."""\n')
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "colab_stub.pth").write_text(str(folder / "stub") + "\n")
    (folder / "cell.py").write_text(colab.install_cell_source() + "\n")
    # as in Colab: google.colab is imported before the notebook's first cell runs
    (folder / "runner.py").write_text(
        "import sys\nimport google.colab\n"
        "exec(compile(open(sys.argv[1]).read(), 'install cell', 'exec'))\n"
        "import hdrlab\nprint('hdrlab imported from', hdrlab.__file__)\n")
    return python


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
                   check=True, capture_output=True)


def _snapshot(folder: Path) -> Path:
    """A git repository of this checkout's tracked files as the working tree has them (the cell clones it)."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "snapshot")
    return folder


def _run_cell(python: Path, folder: Path, source_url: str, clone: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update({colab.SOURCE_VARIABLE: source_url, colab.DIR_VARIABLE: str(clone)})
    return subprocess.run([str(python), str(folder / "runner.py"), str(folder / "cell.py")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def simulated_colab(tmp_path_factory):
    """Build the simulated Colab, run the install cell twice (a rerun), and record pip freeze around it."""
    folder = tmp_path_factory.mktemp("colab")
    started = time.monotonic()
    python = _make_venv(folder)
    preinstalled = [f"torch=={importlib.metadata.version('torch')}",
                    f"torchvision=={importlib.metadata.version('torchvision')}", f"numpy=={COLAB_NUMPY}"]
    subprocess.run([str(python), *_PIP, *preinstalled], check=True)
    before = _freeze(python)
    built = time.monotonic()
    clone, origin = folder / "content" / "hdrlab", _snapshot(folder / "origin")
    first = _run_cell(python, folder, f"file://{origin}", clone)
    assert first.returncode == 0, first.stderr[-4000:]
    installed = time.monotonic()
    again = _run_cell(python, folder, f"file://{origin}", clone)
    assert again.returncode == 0, again.stderr[-4000:]
    print(f"simulated Colab: venv {built - started:.0f} s, install cell {installed - built:.0f} s, "
          f"rerun {time.monotonic() - installed:.0f} s")
    return SimpleNamespace(folder=folder, python=python, clone=clone, before=before, after=_freeze(python),
                           first=first, again=again)


class TestGeneratedCell:
    def test_every_notebook_carries_the_generated_cell(self):
        # fails after an edit of hdrlab/course/colab.py until: python -c "...sync_install_cells('notebooks')"
        wanted = colab.install_cell_source()
        stale = [p.name for p in _notebooks() if source(colab.install_cell(read_notebook(p), p.name)) != wanted]
        assert stale == [], (
            f"install cells differ from hdrlab.course.colab.install_cell_source() in {stale}; run "
            ".venv/bin/python -c \"from hdrlab.course.colab import sync_install_cells; "
            "print(sync_install_cells('notebooks'))\" and then release the student edition")

    def test_every_notebook_tags_it_skipped(self):
        for path in _notebooks():
            assert set(colab.INSTALL_TAGS) <= set(tags(colab.install_cell(read_notebook(path), path.name))), path.name

    def test_clone_url_names_the_repository(self, monkeypatch):
        import hdrlab

        assert f"https://github.com/{hdrlab.REPOSITORY}.git" in colab.install_cell_source()
        monkeypatch.setattr(hdrlab, "REPOSITORY", "someone/else")
        assert "https://github.com/someone/else.git" in colab.install_cell_source()

    def test_needs_are_requirements_pins(self):
        pins = _pins()
        for _, requirement in (*colab.COLAB_NEEDS, (None, colab.LEARN2LEARN)):
            name = requirement.split("==")[0].lower()
            if name == "learn2learn":  # built by scripts/setup.sh, not in requirements.txt
                assert requirement in (ROOT / "scripts" / "setup.sh").read_text()
            else:
                assert pins.get(name) == requirement, (requirement, pins.get(name))

    def test_never_ignores_a_failure_or_reresolves_colab(self):
        text = colab.install_cell_source()
        assert "check=False" not in text and "--upgrade" not in text and "-U " not in text
        for call in re.findall(r"_run\(\*pip, (.*)\)", text):
            assert "--no-deps" in call or "constraints.name" in call, call


class TestSync:
    def _copy(self, tmp_path) -> list[Path]:
        for path in _notebooks()[:2]:
            shutil.copy(path, tmp_path / path.name)
        return sorted(tmp_path.glob("*.ipynb"))

    def test_rewrites_only_the_install_cell(self, tmp_path):
        paths = self._copy(tmp_path)
        nb = read_notebook(paths[0])
        colab.install_cell(nb)["source"] = ["print('old')  # google.colab\n"]
        colab.install_cell(nb)["metadata"] = {}
        write_notebook(nb, paths[0])
        originals = {p: read_notebook(p) for p in paths}
        changed = colab.sync_install_cells(tmp_path)
        assert paths[0] in changed
        for path in paths:
            new, old = read_notebook(path), originals[path]
            cell = colab.install_cell(new)
            assert source(cell) == colab.install_cell_source()
            assert set(colab.INSTALL_TAGS) <= set(tags(cell)) and cell.get("outputs") == []
            assert [c.get("id") for c in new["cells"]] == [c.get("id") for c in old["cells"]]
            others = [(c, o) for c, o in zip(new["cells"], old["cells"]) if c is not cell]
            assert all(c == o for c, o in others if "google.colab" not in source(o))
        assert colab.sync_install_cells(tmp_path) == []

    def test_no_install_cell(self, tmp_path):
        path = self._copy(tmp_path)[0]
        nb = read_notebook(path)
        nb["cells"] = [c for c in nb["cells"] if "google.colab" not in source(c)]
        write_notebook(nb, path)
        with pytest.raises(FileFormatError, match="install cell"):
            colab.sync_install_cells(tmp_path)

    def test_no_notebooks(self, tmp_path):
        with pytest.raises(MissingFileError, match="NN_"):
            colab.sync_install_cells(tmp_path)


class TestOffColab:
    def test_does_nothing_without_google_colab(self, tmp_path):
        clone = tmp_path / "clone"
        env = {**os.environ, colab.DIR_VARIABLE: str(clone), colab.SOURCE_VARIABLE: str(tmp_path / "nowhere")}
        done = subprocess.run([sys.executable, "-c", colab.install_cell_source()], env=env, capture_output=True,
                              text=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        assert not clone.exists()

    def test_missing_colab_torch_is_a_readable_error(self, tmp_path):
        python = _make_venv(tmp_path, with_pip=False)
        done = _run_cell(python, tmp_path, str(tmp_path / "nowhere"), tmp_path / "clone")
        assert done.returncode != 0
        assert "RuntimeError: hdrlab's Colab install needs Colab's preinstalled torch" in done.stderr
        assert not (tmp_path / "clone").exists()


class TestSimulatedColab:
    def test_colab_stack_untouched(self, simulated_colab):
        before, after = simulated_colab.before, simulated_colab.after
        for name in colab.PRESERVED:
            assert _line(after, name) == _line(before, name)
        assert _line(after, "numpy") == f"numpy=={COLAB_NUMPY}"
        assert set(before) <= set(after), sorted(set(before) - set(after))  # nothing Colab had was changed

    def test_installs_what_was_missing_and_reruns_cheaply(self, simulated_colab):
        first, again = simulated_colab.first.stdout, simulated_colab.again.stdout
        for _, requirement in (*colab.COLAB_NEEDS, (None, colab.LEARN2LEARN)):
            assert requirement in first
            assert _line(simulated_colab.after, requirement.split("==")[0]) == requirement
        assert "added nothing" in again
        assert f"hdrlab imported from {simulated_colab.clone / 'hdrlab' / '__init__.py'}" in first

    def test_hdrlab_and_learn2learn_maml(self, simulated_colab):
        # a new process, as after a runtime restart: the editable install alone must find hdrlab
        check = (
            "import hdrlab, gym, learn2learn, torch  # hdrlab first: its shim makes this CUDA torchvision import\n"
            "from hdrlab.methods.metahdr import MetaUNet, adapt\n"
            "torch.manual_seed(0)\n"
            "model, ldr, hdr = MetaUNet(base_width=4), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)\n"
            "out = {b: adapt(model, ldr, hdr, steps=2, inner_lr=0.1, backend=b)(ldr) for b in ('functional', 'learn2learn')}\n"
            "assert torch.allclose(out['functional'], out['learn2learn'], atol=1e-5), 'backends differ'\n"
            "assert not torch.equal(out['learn2learn'], model(ldr)), 'learn2learn did not adapt'\n"
            "print(hdrlab.__file__, gym.__version__, learn2learn.__version__)\n"
        )
        done = subprocess.run([str(simulated_colab.python), "-c", check], cwd=simulated_colab.folder,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
        assert done.stdout.split() == [str(simulated_colab.clone / "hdrlab" / "__init__.py"), "0.26.2", "0.2.0"]

    def test_clone_failure_is_readable(self, simulated_colab, tmp_path):
        empty = tmp_path / "empty"
        empty.mkdir()
        done = _run_cell(simulated_colab.python, simulated_colab.folder, f"file://{empty}", tmp_path / "clone")
        assert done.returncode != 0
        assert f"RuntimeError: hdrlab's Colab install failed: `git clone -q --depth 1 file://{empty}" in done.stderr
        assert "does not appear to be a git repository" in done.stderr
        assert "run this cell again" in done.stderr

    def test_pip_failure_is_readable(self, simulated_colab, tmp_path):
        repo = tmp_path / "not-a-project"
        repo.mkdir()
        (repo / "README.md").write_text("no package here\n")
        _git(repo, "init", "-q")
        _git(repo, "add", "README.md")
        _git(repo, "commit", "-q", "-m", "x")
        done = _run_cell(simulated_colab.python, simulated_colab.folder, f"file://{repo}", tmp_path / "clone")
        assert done.returncode != 0
        assert "RuntimeError: hdrlab's Colab install failed: `" in done.stderr
        assert f"pip install -q --disable-pip-version-check --no-deps -e {tmp_path / 'clone'}` exited with 1" in done.stderr
        assert "does not appear to be a Python project" in done.stderr
