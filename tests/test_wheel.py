"""The built wheel works outside the checkout: it holds one import package (``bodyfit``) with
its configs and models, installs into a fresh virtual environment, and ``bodyfit fit`` run from
another folder fits the shipped examples with nothing read from the checkout."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def source_copy(destination: Path) -> Path:
    """The project's files (tracked, and new ones git does not ignore) copied to ``destination``:
    the build writes its ``build/`` and egg-info there, not into the checkout."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination


def build_wheel(destination: Path) -> Path:
    source = source_copy(destination / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(destination), str(source)],
                   check=True, capture_output=True, text=True)
    (wheel,) = destination.glob("bodyfit-*.whl")
    return wheel


def fresh_environment(root: Path) -> Path:
    """A new virtual environment whose dependencies (torch, smplx, ...) are this one's, added as
    plain paths: bodyfit itself is not there (an editable install's hook is not carried over)."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.mark.slow
def test_the_wheel_installs_and_fits_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names if not name.startswith("bodyfit-")} == {"bodyfit"}
    for shipped in ("bodyfit/cfg/fit_smplx.yaml", "bodyfit/models/open/smplx/SMPLX_NEUTRAL.npz",
                    "bodyfit/models/vposer/open_corpus/vposer.pt", "bodyfit/models/regressor/open_corpus/regressor.pt",
                    "bodyfit/models/temporal/open_corpus/temporal.pt", "bodyfit/report/assets/report.js"):
        assert shipped in names

    python = fresh_environment(tmp_path / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    shutil.copytree(REPO / "examples", work / "examples")
    where = subprocess.run([str(python), "-c", "import bodyfit; print(bodyfit.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True).stdout
    assert str(tmp_path / "venv") in where and str(REPO) not in where

    command = tmp_path / "venv" / "bin" / "bodyfit"
    done = subprocess.run([str(command), "fit", "--images", "examples/images", "--keypoints", "examples/keypoints",
                           "--output", "out", "--quiet"], cwd=work, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["counts"] == {"ok": 3, "skipped": 0, "failed": 0} and summary["people_fitted"] == 4
    assert (work / "out" / "report.html").is_file() and (work / "out" / "index.npz").is_file()
    module = subprocess.run([str(python), "-m", "bodyfit", "--help"], cwd=work, capture_output=True, text=True)
    assert module.returncode == 0 and "train-vposer" in module.stdout
