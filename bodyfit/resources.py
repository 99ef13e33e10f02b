"""Where bodyfit finds its shipped files and, in a checkout, its training material.

What ``fit`` needs at run time (configs, the open body model, VPoser, the regressors, the
report's assets) is package data inside ``bodyfit``, found through ``importlib.resources`` so
that a wheel installed anywhere works. Training-only material (the motion corpus, background
photos, caches) lives in the repository beside the package and exists only in a checkout.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the ``bodyfit`` package, as a real path on disk."""
    return Path(str(files("bodyfit").joinpath(*parts)))


def config_path(name: str) -> Path:
    """A shipped config: ``config_path("fit_smplx")`` is ``bodyfit/cfg/fit_smplx.yaml``."""
    return package_path("cfg", f"{name}.yaml")


def model_path(*parts: str) -> Path:
    """A shipped model file or folder under ``bodyfit/models``."""
    return package_path("models", *parts)


def checkout_root() -> Path:
    """The repository folder that holds the ``bodyfit`` package in a checkout.

    In an installed wheel this folder has no ``data/``; the training material paths below then
    do not exist, and the commands that need them say so naming the path."""
    return package_path().parent


def checkout_path(*parts: str) -> Path:
    """Training-only material beside the package in a checkout: ``data/poses``, ``.cache``."""
    return checkout_root().joinpath(*parts)
