"""The Ray engine, on a local Ray with 2 CPUs: the same fits as the plain engine, a worker
killed mid-run loses only its batch (sent again), and a rerun resumes."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from bodyfit.fitting.config import load_config
from bodyfit.fitting.core import ModelBank
from bodyfit.fitting.tasks import ModelKey
from bodyfit.fileio.openpose_json import match_images
from bodyfit.pipeline.engines import PlainEngine, RayEngine, RayOptions
from bodyfit.pipeline.images import FolderOptions, fit_folder
from bodyfit.pipeline.runner import check_output_folder
from bodyfit.pipeline.results import ResultWriter, record_path
from tests.test_fit_cli import make_folder

ray = pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")

STEMS = ["single_front", "single_side", "two_people"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def run(items, output, config_path, engine_of, batch_size):
    """Fits ``items`` into ``output`` with the engine ``engine_of(bank)`` makes; the bank."""
    config = load_config(config_path)
    bank = ModelBank({"smplx": config})
    check_output_folder(output, overlay=False)
    writer = ResultWriter(output, lambda key: bank.model(key).faces, overlay=False)
    todo = [item for item in items if not writer.is_done(item.stem)]
    engine = engine_of(bank)
    try:
        fit_folder(todo, bank, ModelKey("smplx"), writer, FolderOptions(batch_size=batch_size), engine)
    finally:
        engine.close()
    return engine


def people(output) -> dict[str, np.ndarray]:
    """"image:person" -> (25, 3) 3D body keypoints of every fitted person under ``output``."""
    found = {}
    for stem in STEMS:
        record = json.loads(record_path(output, stem).read_text())
        assert record["status"] == "ok", record
        for person in record["people"]:
            with np.load(output / "results" / stem / f"{person['index']:03d}.npz") as arrays:
                found[f"{stem}:{person['index']}"] = arrays["keypoints_3d"]
    return found


@pytest.mark.slow
def test_ray_fits_equal_the_plain_engine_and_a_killed_worker_loses_only_its_batch(
        tmp_path, quick_config, local_ray):
    images, keypoints = make_folder(tmp_path, STEMS)
    items = match_images(images, keypoints)

    class KillingEngine(RayEngine):
        """Kills the process of an actor that has a batch in flight, once."""

        killed: list[int] = []

        def ready(self):
            finished = super().ready()
            flying = self.in_flight()
            if not self.killed and flying:
                actor = next(iter(flying))
                pid = self.ray.get(self.actors[actor].pid.remote())
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
            return finished

    run(items, tmp_path / "plain", quick_config, PlainEngine, batch_size=1)
    engine = run(items, tmp_path / "ray", quick_config,
                 lambda bank: KillingEngine(bank.configs, None, "cpu", RayOptions(workers=2)), batch_size=1)
    assert engine.killed and engine.retried >= 1
    plain, on_ray = people(tmp_path / "plain"), people(tmp_path / "ray")
    assert sorted(plain) == sorted(on_ray) and len(plain) == 4  # every image accounted for
    for key in plain:  # same batches, same schedule: equal up to thread-count round-off
        assert np.abs(plain[key] - on_ray[key]).max() < 0.005, key

    record_path(tmp_path / "ray", "two_people").unlink()  # as if interrupted before its record
    run(items, tmp_path / "ray", quick_config, PlainEngine, batch_size=1)
    assert sorted(people(tmp_path / "ray")) == sorted(plain)


def test_ray_options_are_checked():
    with pytest.raises(ValueError, match="workers"):
        RayOptions(workers=0)
    with pytest.raises(ValueError, match="gpus_per_worker"):
        RayOptions(gpus_per_worker=-1)
