"""Synthetic people with exact gender labels, rendered straight into the crop the classifier
sees: the open model's male and female shape spaces (anny's phenotypes: age, weight, muscle,
height, proportions), posed and framed as ``motion.cases`` draws real photographs (corpus
clips, cameras, truncation, detector noise), dressed procedurally (skin tones; tops, bottoms
and shoes per body region with plain, striped or checked cloth; hair), with the cues that
tell genders apart in photographs at per-gender rates from ``cfg/gender.yaml``: long hair (a
mesh of its own over the skull, open over the face, hanging below the chin), dresses and
skirts (a flared tube from the waist towards the knees), beards; lit from a random side and
put over real video frames or procedural backgrounds.

Shapes: S the crop side, V vertices, F triangles.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch
from PIL import Image

from bodyfit.resources import checkout_path
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.fileio.images import read_image
from bodyfit.gender.config import GenderConfig
from bodyfit.gender.crops import SquareBox, crop_intrinsics, person_box
from bodyfit.gender.network import CLASSES
from bodyfit.gender.rules import neutral_reason
from bodyfit.motion.cases import CaseDistribution, CaseGenerator, RealisticCase, load_pose_pool
from bodyfit.rendering.raster import MeshLayer, rasterize

BACKGROUNDS = checkout_path("data", "backgrounds")
REGIONS = ("skin", "hair", "top", "sleeve_upper", "sleeve_lower", "bottom", "leg_lower", "shoes", "hand",
           "nape", "upper_back", "beard")  # nape, upper_back, beard: skin and top unless hair covers them
_REGION_JOINTS = {
    "top": ("spine1", "spine2", "spine3", "left_collar", "right_collar"),
    "sleeve_upper": ("left_shoulder", "right_shoulder"),
    "sleeve_lower": ("left_elbow", "right_elbow"),
    "bottom": ("pelvis", "left_hip", "right_hip"),
    "leg_lower": ("left_knee", "right_knee"),
    "shoes": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
}
# skin tones from light to dark (sRGB), interpolated
_SKIN = np.array([[255, 224, 200], [236, 188, 150], [205, 150, 110], [160, 105, 70], [105, 65, 40], [70, 45, 30]])
_HAIR = np.array([[20, 15, 12], [50, 32, 20], [95, 60, 35], [165, 120, 70], [210, 180, 120], [150, 70, 35],
                  [150, 150, 150]])


def dominant_joint(model: BodyModel) -> np.ndarray:
    """(V,) the joint that moves each vertex most (its largest skinning weight)."""
    return model.smpl.lbs_weights.detach().cpu().numpy().argmax(axis=1)


def vertex_regions(model: BodyModel) -> np.ndarray:
    """(V,) index into ``REGIONS`` per vertex: by the joint that moves it most (skinning
    weights), the hair over the top and back of the head (from the rest mesh), skin elsewhere."""
    joint = dominant_joint(model)
    regions = np.zeros(len(joint), dtype=np.int64)
    for region, joints in _REGION_JOINTS.items():
        regions[np.isin(joint, [SMPLX_JOINT[name] for name in joints])] = REGIONS.index(region)
    hands = [index for name, index in SMPLX_JOINT.items() if "wrist" in name or any(
        finger in name for finger in ("index", "middle", "pinky", "ring", "thumb"))]
    regions[np.isin(joint, hands)] = REGIONS.index("hand")
    rest = model.smpl.v_template.detach().cpu().numpy()
    head = joint == SMPLX_JOINT["head"]
    centre = rest[head].mean(axis=0)
    top = rest[head, 1] > centre[1] + 0.03
    back = (rest[head, 2] < centre[2] - 0.02) & (rest[head, 1] > centre[1] - 0.04)
    regions[np.flatnonzero(head)[top | back]] = REGIONS.index("hair")
    joints = model.smpl.J_regressor.detach().cpu().numpy() @ rest
    neck, spine3 = joints[SMPLX_JOINT["neck"]], joints[SMPLX_JOINT["spine3"]]
    near_neck = np.isin(joint, [SMPLX_JOINT["neck"], SMPLX_JOINT["head"]]) & (rest[:, 1] < centre[1] - 0.04)
    sides_or_back = (rest[:, 2] < neck[2]) | (np.abs(rest[:, 0] - neck[0]) > 0.035)
    regions[near_neck & sides_or_back] = REGIONS.index("nape")
    shoulders = np.isin(joint, [SMPLX_JOINT[n] for n in ("spine3", "left_collar", "right_collar", "neck")])
    behind = (rest[:, 2] < spine3[2] - 0.02) & (rest[:, 1] > neck[1] - 0.2) & (np.abs(rest[:, 0] - neck[0]) < 0.13)
    regions[shoulders & behind & (regions != REGIONS.index("nape"))] = REGIONS.index("upper_back")
    low, high = rest[head].min(axis=0), rest[head].max(axis=0)
    chin_to_mouth = rest[:, 1] < low[1] + 0.35 * (high[1] - low[1])
    front = rest[:, 2] > (low[2] + high[2]) / 2
    regions[np.flatnonzero(head & chin_to_mouth & front)] = REGIONS.index("beard")
    return regions


@dataclass
class HeadFrame:
    """A body model's head in its rest pose: the vertex ids that the head joint moves most
    (H,), their rest positions (H, 3) and the head's box (low, high) (3,) each, metres."""

    ids: np.ndarray
    rest: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, model: BodyModel) -> HeadFrame:
        ids = np.flatnonzero(dominant_joint(model) == SMPLX_JOINT["head"])
        rest = model.smpl.v_template.detach().cpu().numpy()[ids].astype(np.float64)
        return cls(ids, rest, rest.min(axis=0), rest.max(axis=0))

    def pose(self, vertices: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Rotation (3, 3), scale and translation (3,) carrying the rest head onto the head of
        the posed ``vertices`` (V, 3) (least squares, Umeyama): the person's head may be
        smaller or larger than the template's."""
        rotation, translation, scale = roma.rigid_points_registration(
            torch.from_numpy(self.rest), torch.from_numpy(np.asarray(vertices[self.ids], dtype=np.float64)),
            compute_scaling=True)
        return rotation.numpy(), float(scale), translation.numpy()


def grid_faces(rows: int, columns: int) -> np.ndarray:
    """(2 (R-1) C, 3) triangles of a grid of R rings of C points each, closed around."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(columns), indexing="ij")
    a, b = r * columns + c, r * columns + (c + 1) % columns
    quads = np.stack([a, b, b + columns, a + columns], axis=-1).reshape(-1, 4)
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def long_hair_mesh(head: HeadFrame, vertices: np.ndarray, length: float, columns: int = 28,
                   rows: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) and triangles (T, 3) of long hair on the posed body ``vertices``: a shell
    a little wider than the skull over its top, back and sides, open over the face, hanging
    ``length`` metres (template scale) below the chin and spreading as it falls, carried by the
    head (rotated, scaled and moved as the posed head is)."""
    centre, radii = (head.low + head.high) / 2, (head.high - head.low) / 2 * np.array([1.15, 1.0, 1.0])
    top, chin = head.high[1] + 0.01, head.low[1]
    heights = np.linspace(top, chin - length, rows)
    angles = np.linspace(-np.pi, np.pi, columns, endpoint=False)  # 0 looks ahead (+z)
    dome = np.clip((heights - centre[1]) / (top - centre[1]), 0, 0.98)
    below = np.clip(chin + 0.03 - heights, 0, None)
    width = radii[0] * np.sqrt(1 - dome ** 2) + 0.35 * below
    depth = (radii[2] * 1.05) * np.sqrt(1 - dome ** 2) + 0.2 * below
    back = centre[2] - 0.6 * below - 0.02 * (heights < centre[1])
    rest = np.stack([np.outer(width, np.sin(angles)) + centre[0], np.repeat(heights[:, None], columns, axis=1),
                     np.outer(depth, np.cos(angles)) + back[:, None]], axis=-1).reshape(-1, 3)
    faces = grid_faces(rows, columns)
    ring_angle = angles[faces[:, 0] % columns] + np.pi / columns  # each quad's middle (no wrap at the back)
    ring_height = rest[faces, 1].mean(axis=1)
    over_face = (np.abs(ring_angle) < np.radians(62)) & (ring_height < centre[1] + 0.35 * radii[1])
    rotation, scale, translation = head.pose(vertices)
    return scale * rest @ rotation.T + translation, faces[~over_face]


def skirt_mesh(joints: np.ndarray, length: float, columns: int = 28, rows: int = 5
               ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) and triangles (T, 3) of a skirt on the posed SMPL-X ``joints`` (J, 3): a
    flared tube from the waist to ``length`` times the way to the knees, wide enough around the
    knees to hold both legs."""
    at = {name: joints[SMPLX_JOINT[name]] for name in ("pelvis", "spine1", "left_hip", "right_hip", "left_knee",
                                                       "right_knee")}
    across = at["left_hip"] - at["right_hip"]
    half_hips = np.linalg.norm(across) / 2
    across /= 2 * half_hips
    up = at["spine1"] - at["pelvis"]
    up -= (up @ across) * across
    up /= np.linalg.norm(up)
    ahead = np.cross(across, up)
    waist = at["pelvis"] + 0.07 * up
    hem = waist + length * ((at["left_knee"] + at["right_knee"]) / 2 - waist)
    reach = max(np.linalg.norm((knee - hem) - ((knee - hem) @ up) * up) for knee in (at["left_knee"], at["right_knee"]))
    waist_radii = np.array([half_hips * 1.45 + 0.02, half_hips * 1.2 + 0.02])
    hem_radii = np.maximum(waist_radii * 1.25, reach + 0.07)
    angles = np.linspace(-np.pi, np.pi, columns, endpoint=False)
    t = np.linspace(0, 1, rows)[:, None, None]
    centres = waist + t[..., 0] * (hem - waist)  # (R, 3)
    radii = waist_radii + t[..., 0] * (hem_radii - waist_radii)  # (R, 2)
    ring = (radii[:, None, 0:1] * np.sin(angles)[None, :, None] * across
            + radii[:, None, 1:2] * np.cos(angles)[None, :, None] * ahead)
    return (centres[:, None, :] + ring).reshape(-1, 3), grid_faces(rows, columns)


@dataclass
class Outfit:
    """Colours (R, 3) per region in 0..255 and, per region, an optional second colour and
    pattern (0 plain, 1 stripes, 2 checks) with its period (px) and angle; the lengths of long
    hair below the chin (metres) and of a skirt (share of the way from waist to knees), 0 for
    none."""

    colors: np.ndarray
    second: np.ndarray
    pattern: np.ndarray
    period: np.ndarray
    angle: np.ndarray
    hair_length: float = 0.0
    skirt_length: float = 0.0


def _cloth_color(rng: np.random.Generator) -> np.ndarray:
    hue = rng.uniform(0, 1)
    saturation, value = rng.uniform(0.0, 0.9) ** 1.5, rng.uniform(0.12, 0.95)
    rgb = np.asarray(Image.new("HSV", (1, 1), (int(hue * 255), int(saturation * 255), int(value * 255)))
                     .convert("RGB")).reshape(3)
    return rgb.astype(np.float64)


def draw_outfit(rng: np.random.Generator, config: GenderConfig, gender: str) -> Outfit:
    """Skin, hair and clothes: independent of gender but for the config's per-gender shares of
    ``long_hair`` (hair falling below the chin, also over the nape and upper back), ``dress``
    (a skirt of the top's cloth), ``skirt`` (of its own cloth) and ``beard``, as common in
    photographs."""
    synth = config.synthetic
    count = len(REGIONS)
    tone = rng.uniform(0, len(_SKIN) - 1)
    low = int(tone)
    skin = _SKIN[low] + (tone - low) * (_SKIN[min(low + 1, len(_SKIN) - 1)] - _SKIN[low])
    skin = np.clip(skin * rng.uniform(0.92, 1.08, 3), 0, 255)
    colors = np.tile(skin, (count, 1))
    index = REGIONS.index
    has_hair = rng.random() < synth.hair_share
    if has_hair:
        colors[index("hair")] = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    top, bottom = _cloth_color(rng), _cloth_color(rng)
    colors[index("top")] = top
    sleeve = rng.choice(list(synth.sleeve), p=_normalised(synth.sleeve))
    if sleeve in ("short", "long"):
        colors[index("sleeve_upper")] = top
    if sleeve == "long":
        colors[index("sleeve_lower")] = top
    colors[index("bottom")] = bottom
    if rng.choice(list(synth.legs), p=_normalised(synth.legs)) == "long":
        colors[index("leg_lower")] = bottom
    colors[index("shoes")] = _cloth_color(rng) * rng.uniform(0.3, 1.0)
    colors[index("upper_back")] = top
    second = np.array([_cloth_color(rng) for _ in range(count)])
    pattern = np.where(rng.random(count) < synth.pattern_share, rng.integers(1, 3, count), 0)
    skirt_length = 0.0
    dress, skirt = rng.random() < synth.dress.get(gender, 0.0), rng.random() < synth.skirt.get(gender, 0.0)
    if dress or skirt:
        skirt_length = float(rng.uniform(*synth.skirt_length))
        colors[index("leg_lower")] = skin if rng.random() < 0.7 else _cloth_color(rng) * 0.5  # bare legs or tights
    if dress:
        colors[index("bottom")] = top
        second[index("bottom")], pattern[index("bottom")] = second[index("top")], pattern[index("top")]
    pattern[index("upper_back")] = pattern[index("top")]
    second[index("upper_back")] = second[index("top")]
    hair_length = 0.0
    if rng.random() < synth.long_hair.get(gender, 0.0):
        hair = colors[index("hair")] if has_hair else _HAIR[rng.integers(len(_HAIR))]
        colors[[index("hair"), index("nape"), index("upper_back")]] = hair
        pattern[index("upper_back")] = 0
        hair_length = float(rng.uniform(*synth.long_hair_length))
    if rng.random() < synth.beard.get(gender, 0.0):
        colors[index("beard")] = _HAIR[rng.integers(len(_HAIR) - 1)] * rng.uniform(0.6, 1.0)
    pattern[[index("skin"), index("hair"), index("hand"), index("nape"), index("beard")]] = 0
    return Outfit(np.clip(colors, 0, 255), second, pattern, rng.uniform(3, 12, count), rng.uniform(0, np.pi, count),
                  hair_length, skirt_length)


def _normalised(weights: dict[str, float]) -> np.ndarray:
    values = np.asarray(list(weights.values()), dtype=np.float64)
    return values / values.sum()


def load_backgrounds(prefixes: tuple[str, ...], folder: Path = BACKGROUNDS) -> list[np.ndarray]:
    """The background frames (H, W, 3) uint8 whose file names start with one of ``prefixes``."""
    files = sorted(path for path in folder.glob("*.jpg") if path.name.startswith(tuple(prefixes)))
    if not files:
        raise FileNotFoundError(f"{folder}: no background frames named {', '.join(prefixes)}_*.jpg "
                                "(in a checkout: python -m tools.gather_backgrounds)")
    return [read_image(path) for path in files]


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(S, S, 3) uint8: a tilted two-colour gradient with blobs and noise."""
    grid = np.linspace(0, 1, size)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * grid[None, :] + np.sin(angle) * grid[:, None]
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)
    a, b = _cloth_color(rng), _cloth_color(rng)
    image = a + ramp[..., None] * (b - a)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(rng.integers(0, 6)):
        centre, radius = rng.uniform(0, size, 2), rng.uniform(0.05, 0.4) * size
        inside = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius ** 2
        image[inside] = _cloth_color(rng)
    image += rng.normal(0, rng.uniform(0, 12), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def background_crop(rng: np.random.Generator, frames: list[np.ndarray], size: int) -> np.ndarray:
    """(S, S, 3) uint8: a random square of a random frame, resized, maybe mirrored."""
    frame = frames[rng.integers(len(frames))]
    height, width = frame.shape[:2]
    side = int(rng.uniform(0.25, 1.0) * min(height, width))
    x0, y0 = rng.integers(0, width - side + 1), rng.integers(0, height - side + 1)
    crop = Image.fromarray(frame[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.BILINEAR)
    image = np.asarray(crop)
    return image[:, ::-1] if rng.random() < 0.5 else image


def shade(vertices: np.ndarray, faces: np.ndarray, light: np.ndarray, ambient: float) -> np.ndarray:
    """(F,) Lambert intensity of each triangle for a light from direction ``light`` (3,)
    (towards the light, camera frame), never below ``ambient``."""
    tris = vertices[faces]
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    towards_camera = -tris.mean(axis=1)
    normals *= np.sign((normals * towards_camera).sum(axis=1, keepdims=True))  # face the camera
    return ambient + (1 - ambient) * np.clip(normals @ light, 0, 1)


def paint(face_ids: np.ndarray, face_regions: np.ndarray, face_shade: np.ndarray, outfit: Outfit) -> np.ndarray:
    """(S, S, 3) float colours of the covered pixels (zeros elsewhere): region colour, its
    pattern, the triangle's shading."""
    size = face_ids.shape[0]
    covered = face_ids >= 0
    ids = face_ids[covered]
    region = face_regions[ids]
    colors = outfit.colors[region].copy()
    yy, xx = np.nonzero(covered)
    angle, period = outfit.angle[region], outfit.period[region] * size / 128.0
    along = (xx * np.cos(angle) + yy * np.sin(angle)) / period
    across = (-xx * np.sin(angle) + yy * np.cos(angle)) / period
    stripes = np.sin(2 * np.pi * along) > 0
    checks = stripes ^ (np.sin(2 * np.pi * across) > 0)
    use_second = ((outfit.pattern[region] == 1) & stripes) | ((outfit.pattern[region] == 2) & checks)
    colors[use_second] = outfit.second[region][use_second]
    image = np.zeros((size, size, 3))
    image[covered] = colors * face_shade[ids, None]
    return image


@dataclass
class SyntheticPerson:
    """One rendered crop (S, S, 3) uint8 with its label (index into ``CLASSES``), the rule
    that would keep it neutral ("" if none) and the case's bins."""

    crop: np.ndarray
    label: int
    neutral_reason: str
    view: str
    truncated: bool
    source: str
    box_side: float


class PersonRenderer:
    """Renders synthetic people of both genders from the ``split`` clips over ``frames``
    (real backgrounds; procedural ones for ``procedural_background_share`` of them)."""

    def __init__(self, models: dict[str, BodyModel], config: GenderConfig, split: str,
                 frames: list[np.ndarray]) -> None:
        self.config, self.frames = config, frames
        dist = CaseDistribution(split=split)
        self.generators = {gender: CaseGenerator(model, load_pose_pool(model, split, dist.frame_stride), dist)
                           for gender, model in models.items()}
        self.faces = {gender: model.faces for gender, model in models.items()}
        self.face_regions = {gender: vertex_regions(model)[model.faces[:, 0]] for gender, model in models.items()}
        self.heads = {gender: HeadFrame.of(model) for gender, model in models.items()}

    def render(self, rng: np.random.Generator, case_id: str) -> SyntheticPerson | None:
        """One person of a random gender, or None when its keypoints give no crop."""
        label = int(rng.integers(len(CLASSES)))
        gender = CLASSES[label]
        case = self.generators[gender].sample(rng, case_id)
        crop_config, size = self.config.crop, self.config.model.image_size
        box = person_box(case.observed, crop_config.confidence_threshold, crop_config.margin)
        if box is None:
            return None
        image = self.draw(rng, case, gender, box, size)
        reason = neutral_reason(case.observed, box, crop_config, self.config.rules)
        return SyntheticPerson(image, label, reason, case.view, case.truncated, case.source, box.side)

    def dressed_mesh(self, case: RealisticCase, gender: str, outfit: Outfit
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vertices (V', 3), triangles (F', 3) and each triangle's region (F',) of ``case``'s
        body with the outfit's long hair and skirt added as meshes of their own."""
        parts = [(np.asarray(case.vertices, dtype=np.float64), self.faces[gender], self.face_regions[gender])]
        if outfit.hair_length > 0:
            hair, hair_faces = long_hair_mesh(self.heads[gender], parts[0][0], outfit.hair_length)
            parts.append((hair, hair_faces, np.full(len(hair_faces), REGIONS.index("hair"))))
        if outfit.skirt_length > 0:
            skirt, skirt_faces = skirt_mesh(np.asarray(case.joints_3d, dtype=np.float64), outfit.skirt_length)
            parts.append((skirt, skirt_faces, np.full(len(skirt_faces), REGIONS.index("bottom"))))
        offsets = np.cumsum([0] + [len(vertices) for vertices, _, _ in parts[:-1]])
        return (np.concatenate([vertices for vertices, _, _ in parts]),
                np.concatenate([faces + offset for (_, faces, _), offset in zip(parts, offsets)]),
                np.concatenate([regions for _, _, regions in parts]))

    def draw(self, rng: np.random.Generator, case: RealisticCase, gender: str, box: SquareBox,
             size: int) -> np.ndarray:
        """(S, S, 3) uint8: ``case``'s body dressed and lit over a background, black where
        the crop leaves the photograph."""
        synth = self.config.synthetic
        fx, fy, cx, cy = crop_intrinsics(case.intrinsics, box, size)
        matrix = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        outfit = draw_outfit(rng, self.config, gender)
        vertices, faces, regions = self.dressed_mesh(case, gender, outfit)
        ids = rasterize([MeshLayer(vertices, faces)], matrix, (size, size)).face_ids
        light = rng.normal(size=3) + np.array([0.0, -1.0, -1.5])  # mostly from above and the camera's side
        light /= np.linalg.norm(light)
        ambient = float(rng.uniform(*synth.light_ambient))
        body = paint(ids, regions, shade(vertices, faces, light, ambient), outfit)
        if rng.random() < synth.procedural_background_share:
            background = procedural_background(rng, size)
        else:
            background = background_crop(rng, self.frames, size)
        image = np.where((ids >= 0)[..., None], body, background.astype(np.float64))
        image *= rng.uniform(0.7, 1.2) * rng.uniform(0.9, 1.1, 3)  # exposure and white balance
        height, width = case.image_size
        scale = box.side / size
        xs, ys = box.x0 + (np.arange(size) + 0.5) * scale, box.y0 + (np.arange(size) + 0.5) * scale
        outside = (ys[:, None] < 0) | (ys[:, None] >= height) | (xs[None, :] < 0) | (xs[None, :] >= width)
        image[outside] = 0.0
        return np.clip(image, 0, 255).astype(np.uint8)
