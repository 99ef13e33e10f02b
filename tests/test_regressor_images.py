"""The regressor's image dataset: synthetic people rendered with the open model into small
photos, with their OpenPose files and fit.py-style parameter files; read back, batched and
trained on."""
from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from bodyfit.resources import config_path
from bodyfit.fileio.atomic import write_npz
from bodyfit.fileio.images import read_image, write_png
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fileio.openpose_json import PersonKeypoints, write_openpose
from bodyfit.regressor.checkpoint import load_regressor
from bodyfit.regressor.image_data import image_batches, read_image_dataset
from bodyfit.fileio.images import IMAGENET_MEAN, IMAGENET_STD
from bodyfit.regressor.model import Regressor, RegressorShape
from bodyfit.regressor.training import (RealSamples, load_train_config, predict, supervised_losses, train,
                                true_rotations)
from bodyfit.rendering.raster import MeshLayer, rasterize

# (height, width) and focal length (px) of each photo; the last one's focal is not the
# default (the image diagonal), so only its parameter file tells it.
PHOTOS = (((160, 120), 200.0), ((160, 120), 200.0), ((192, 144), 240.0), ((160, 120), 260.0))
GREY = 128
COLOR = (200, 90, 60)


@dataclass
class Dataset:
    images: Path
    keypoints: Path
    params: Path
    truth: list[dict[str, np.ndarray]]   # per photo: parameters, intrinsics, keypoints (25, 3)


def facing_person(model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small random pose and shape, turned to face the camera, pelvis about 3.2 m ahead."""
    turn = roma.rotvec_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])) @ roma.rotvec_to_rotmat(
        torch.as_tensor(rng.normal(scale=0.1, size=3), dtype=torch.float32))
    params = model.zero_params(1)
    params.global_orient = roma.rotmat_to_rotvec(turn)[None]
    params.body_pose = torch.as_tensor(rng.normal(scale=0.15, size=(1, 63)), dtype=torch.float32)
    params.betas = torch.as_tensor(rng.normal(scale=0.5, size=(1, 10)), dtype=torch.float32)
    with torch.no_grad():
        pelvis = model(params).joints[0, 0].numpy()
    target = np.array([rng.normal(scale=0.05), rng.normal(scale=0.05), 3.2])
    params.transl = torch.as_tensor(target - pelvis, dtype=torch.float32)[None]
    names = ("global_orient", "body_pose", "betas", "transl")
    return {name: getattr(params, name)[0].numpy() for name in names}


def render_photo(model, person: dict[str, np.ndarray], size: tuple[int, int],
                 focal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person drawn flat-coloured over grey (H, W, 3), its intrinsics (4,) and BODY_25
    keypoints (25, 3) with confidence 1."""
    height, width = size
    intrinsics = np.array([focal, focal, width / 2, height / 2])
    params = model.zero_params(1)
    for name, value in person.items():
        setattr(params, name, torch.as_tensor(value, dtype=torch.float32)[None])
    with torch.no_grad():
        output = model(params)
    vertices, points = output.vertices[0].numpy(), output.keypoints[0, BODY].numpy()
    pixels = points[:, :2] / points[:, 2:] * intrinsics[:2] + intrinsics[2:]
    matrix = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    background = np.full((height, width, 3), GREY, np.uint8)
    image = rasterize([MeshLayer(vertices, model.faces, COLOR)], matrix, size, background).image
    return image, intrinsics, np.concatenate([pixels, np.ones((25, 1))], axis=1)


def _person_file(body: np.ndarray) -> PersonKeypoints:
    return PersonKeypoints(body, np.zeros((21, 3)), np.zeros((21, 3)), np.zeros((70, 3)))


@pytest.fixture(scope="module")
def dataset(open_model, tmp_path_factory) -> Dataset:
    """Four photos of one person each; photo 1's keypoint file lists a barely seen person
    first, so its person is index 1. Parameters in fit.py's layout (``results/<stem>/``)."""
    root = tmp_path_factory.mktemp("image_dataset")
    images, keypoints, params = root / "images", root / "keypoints", root / "fits"
    images.mkdir(), keypoints.mkdir()
    rng = np.random.default_rng(0)
    truth = []
    for index, (size, focal) in enumerate(PHOTOS):
        person = facing_person(open_model, rng)
        image, intrinsics, body = render_photo(open_model, person, size, focal)
        stem = f"photo{index}"
        write_png(images / f"{stem}.png", image)
        people = [_person_file(body)]
        if index == 1:
            sparse = np.zeros((25, 3))
            sparse[:2] = [[10, 10, 0.9], [12, 20, 0.9]]
            people.insert(0, _person_file(sparse))
        write_openpose(keypoints / f"{stem}_keypoints.json", people)
        write_npz(params / "results" / stem / f"{len(people) - 1:03d}.npz",
                  {**person, "focal_length": intrinsics[:2], "camera_center": intrinsics[2:]})
        truth.append({**person, "intrinsics": intrinsics, "keypoints": body, "person": len(people) - 1})
    return Dataset(images, keypoints, params, truth)


def test_reads_people_with_their_parameters_and_cameras(dataset):
    samples = read_image_dataset(dataset.images, dataset.keypoints, dataset.params)
    assert [s.stem for s in samples] == [f"photo{i}" for i in range(4)]
    for sample, truth, (size, _) in zip(samples, dataset.truth, PHOTOS):
        assert sample.person == truth["person"] and sample.image_size == size and sample.has_params
        np.testing.assert_allclose(sample.intrinsics, truth["intrinsics"])
        np.testing.assert_allclose(sample.keypoints, truth["keypoints"], atol=1e-3)
        for name in ("global_orient", "body_pose", "betas", "transl"):
            np.testing.assert_allclose(getattr(sample, name), truth[name], atol=1e-6)


def test_cameras_without_parameters_follow_fit_py(dataset):
    samples = read_image_dataset(dataset.images, dataset.keypoints)
    for sample, ((height, width), _) in zip(samples, PHOTOS):
        assert not sample.has_params
        diagonal = math.hypot(width, height)
        np.testing.assert_allclose(sample.intrinsics, [diagonal, diagonal, width / 2, height / 2])
    given = read_image_dataset(dataset.images, dataset.keypoints, focal_length=500.0)
    assert all(s.intrinsics[0] == s.intrinsics[1] == 500.0 for s in given)


def test_a_camera_sidecar_is_read_as_fit_py_reads_it(dataset, tmp_path):
    images = shutil.copytree(dataset.images, tmp_path / "images")
    (images / "photo0_camera.json").write_text('{"fx": 210, "fy": 220, "cx": 61, "cy": 79}')
    samples = read_image_dataset(images, dataset.keypoints)
    np.testing.assert_allclose(samples[0].intrinsics, [210, 220, 61, 79])
    np.testing.assert_allclose(samples[1].intrinsics, [200, 200, 60, 80])


def test_broken_files_are_skipped_with_a_warning(dataset, tmp_path, caplog):
    images, keypoints, params = (shutil.copytree(p, tmp_path / p.name) for p in
                                 (dataset.images, dataset.keypoints, dataset.params))
    (images / "broken.png").write_bytes(b"not a png")
    shutil.copy(keypoints / "photo0_keypoints.json", keypoints / "broken_keypoints.json")
    shutil.copy(images / "photo0.png", images / "badjson.png")
    (keypoints / "badjson_keypoints.json").write_text('{"people": [')
    (params / "results" / "photo2" / "000.npz").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="bodyfit"):
        samples = read_image_dataset(images, keypoints, params)
    assert [s.stem for s in samples] == [f"photo{i}" for i in range(4)]
    assert [s.has_params for s in samples] == [True, True, False, True]
    text = caplog.text
    assert "broken.png" in text and "cannot read the image" in text
    assert "badjson_keypoints.json" in text and "not valid JSON" in text
    assert "000.npz" in text


def test_an_empty_dataset_names_the_folder(tmp_path):
    (tmp_path / "images").mkdir(), (tmp_path / "keypoints").mkdir()
    with pytest.raises(ValueError, match="images: no usable person"):
        read_image_dataset(tmp_path / "images", tmp_path / "keypoints")


def test_keypoint_batches_carry_detections_and_known_parameters(dataset, open_model):
    samples = read_image_dataset(dataset.images, dataset.keypoints, dataset.params)
    draw = image_batches(samples, 6, with_images=False, body=open_model)
    rng = np.random.default_rng(1)
    rows = np.random.default_rng(1).integers(len(samples), size=6)  # the rows draw() picks
    batch = draw(rng)
    assert batch.inputs.image is None and batch.inputs.keypoints.shape == (6, 25, 3)
    chosen = [samples[row] for row in rows]
    expected = torch.as_tensor(np.stack([s.keypoints for s in chosen]), dtype=torch.float32)
    torch.testing.assert_close(batch.keypoints_px, expected[..., :2])
    torch.testing.assert_close(batch.keypoint_weight, expected[..., 2])
    go, bp = np.stack([s.global_orient for s in chosen]), np.stack([s.body_pose for s in chosen])
    torch.testing.assert_close(batch.rotations, true_rotations(go, bp))
    params = open_model.zero_params(6)  # oracle: the model's full forward on axis-angle
    params.global_orient, params.body_pose = (torch.as_tensor(a, dtype=torch.float32) for a in (go, bp))
    params.betas = torch.as_tensor(np.stack([s.betas for s in chosen]), dtype=torch.float32)
    params.transl = torch.as_tensor(np.stack([s.transl for s in chosen]), dtype=torch.float32)
    with torch.no_grad():
        joints = open_model(params).joints[:, :22]
    torch.testing.assert_close(batch.joints, joints, atol=1e-4, rtol=0)
    without = [replace(samples[0], global_orient=None, body_pose=None, betas=None, transl=None)] * 2
    plain = image_batches(without, 2, with_images=False)(rng)
    assert plain.rotations is None and plain.betas is None and plain.transl is None and plain.joints is None


def bilinear(image: np.ndarray, x: float, y: float) -> np.ndarray:
    """(3,) the image (H, W, 3) in [0, 1] at pixel (x, y), bilinearly."""
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    top = (1 - fx) * image[y0, x0] + fx * image[y0, x0 + 1]
    bottom = (1 - fx) * image[y0 + 1, x0] + fx * image[y0 + 1, x0 + 1]
    return (1 - fy) * top + fy * bottom


def test_image_batches_crop_each_photo_at_its_person(dataset):
    samples = read_image_dataset(dataset.images, dataset.keypoints, dataset.params)
    batch = image_batches(samples, 4, with_images=True, crop_size=33)(np.random.default_rng(0))
    rows = np.random.default_rng(0).integers(len(samples), size=4)  # the rows the batch drew
    assert batch.inputs.image.shape == (4, 3, 33, 33)
    assert batch.joints is None and batch.rotations is not None  # no body model given
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    centre = (batch.inputs.image * std + mean)[:, :, 16, 16]  # the crop's centre: the box's
    for row, pixel, box in zip(rows, centre, batch.inputs.box):
        photo = read_image(samples[row].image) / 255.0
        expected = bilinear(photo, float(box[0]), float(box[1]))
        np.testing.assert_allclose(pixel.numpy(), expected, atol=1e-4)
        assert np.abs(expected - GREY / 255).max() > 0.05  # on the body, not the background


@pytest.fixture
def one_thread():
    """Small convolutions run fastest on one thread (and much slower on a busy machine with
    several); the setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_rgb_regressor_trains_on_the_photos(dataset, open_model, tmp_path, one_thread):
    samples = read_image_dataset(dataset.images, dataset.keypoints, dataset.params)
    draw = image_batches(samples, 4, with_images=True, crop_size=64, body=open_model)
    config = load_train_config(config_path("regressor"), {
        "training": {"steps": 4, "batch_size": 4, "eval_every": 4},
        "model": {"encoder": "rgb", "crop_size": 64}})
    torch.manual_seed(0)
    regressor = Regressor(RegressorShape(encoder="rgb", crop_size=64))
    real = RealSamples(np.random.default_rng(0).normal(scale=0.2, size=(16, 63)))
    metrics = train(config, draw, open_model, real, tmp_path / "run", torch.device("cpu"), progress=False,
                    regressor=regressor)
    assert metrics["steps"] == 4
    loaded = load_regressor(tmp_path / "run" / "regressor.pt")
    assert loaded.shape.encoder == "rgb" and loaded.shape.crop_size == 64

    batch = draw(np.random.default_rng(5))
    optimizer = torch.optim.Adam(regressor.parameters(), lr=1e-4)

    def loss() -> torch.Tensor:
        prediction = predict(regressor, open_model, batch.inputs)
        return sum(supervised_losses(prediction, batch, config.losses).values())

    def measured() -> float:
        torch.manual_seed(1)  # the same dropout masks each time
        with torch.no_grad():
            return float(loss())

    regressor.train()
    first = measured()
    for _ in range(8):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert measured() < 0.8 * first  # measured: 0.55 -> 0.28
