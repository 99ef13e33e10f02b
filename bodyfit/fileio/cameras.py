"""Calibrated cameras of a multi-camera rig: OpenCV's model, world to camera.

A world point X (metres) is seen in camera coordinates as ``R X + t`` (OpenCV axes: x right,
y down, z forward), then through the lens: the pinhole ``K`` and OpenCV's distortion, either
the standard model (``distortion`` k1, k2, p1, p2[, k3, ...]) or the fisheye one (k1..k4).

Fitting works in undistorted pixels: each detection is undistorted once (``undistort``), after
which a camera is a pinhole with ``K`` (``project_pinhole``); ``project`` gives the pixels of
the real, distorted image (for overlays and the 2D outputs). OpenCV does the lens maths where
the distortion is not zero (``pip install 'bodyfit[multiview]'``); a camera without distortion
needs only numpy.

Shapes: N points, V cameras.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class CalibrationError(ValueError):
    """A calibration that cannot be read or used; the message names the file and the field."""


def opencv(needed_for: str = "this calibration has lens distortion, which needs OpenCV"):
    """The ``cv2`` module, or a ``CalibrationError`` saying what ``needed_for`` it and how to
    install it."""
    try:
        import cv2
    except ImportError:
        raise CalibrationError(f"{needed_for}: pip install 'bodyfit[multiview]'") from None
    return cv2


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera: ``name``, ``image_size`` (height, width) px, ``matrix`` (3, 3)
    K, ``distortion`` (D,) OpenCV order, ``rotation`` (3, 3) and ``translation`` (3,) metres,
    world to camera, ``fisheye`` whether the distortion is OpenCV's fisheye model."""

    name: str
    image_size: tuple[int, int]
    matrix: np.ndarray
    distortion: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    fisheye: bool = False

    def __post_init__(self) -> None:
        for attribute, shape in (("matrix", (3, 3)), ("rotation", (3, 3)), ("translation", (3,))):
            value = np.asarray(getattr(self, attribute), dtype=np.float64)
            if value.shape != shape:
                raise CalibrationError(f"camera {self.name!r}: {attribute} must be {shape}, got {value.shape}")
            object.__setattr__(self, attribute, value)
        distortion = np.asarray(self.distortion, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "distortion", distortion)
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))
        if abs(np.linalg.det(self.rotation) - 1.0) > 1e-3:
            raise CalibrationError(f"camera {self.name!r}: rotation is not a rotation "
                                   f"(determinant {np.linalg.det(self.rotation):.4f})")

    @property
    def intrinsics(self) -> np.ndarray:
        """(4,) fx, fy, cx, cy."""
        k = self.matrix
        return np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]])

    @property
    def projection(self) -> np.ndarray:
        """(3, 4) K [R | t]: homogeneous world point -> homogeneous undistorted pixel."""
        return self.matrix @ np.column_stack([self.rotation, self.translation])

    @property
    def center(self) -> np.ndarray:
        """(3,) the camera's position in the world, metres."""
        return -self.rotation.T @ self.translation

    @property
    def distorted(self) -> bool:
        return bool(np.any(self.distortion != 0))

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points in this camera's frame."""
        return np.asarray(points) @ self.rotation.T + self.translation

    def project_pinhole(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) undistorted pixels of world ``points`` (N, 3) (depth floored at 1e-6 m)."""
        local = self.to_camera(points)
        depth = np.maximum(local[:, 2:], 1e-6)
        return local[:, :2] / depth @ self.matrix[:2, :2].T + self.matrix[:2, 2]

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) pixels of world ``points`` (N, 3) in the real (distorted) image."""
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        if not self.distorted or len(points) == 0:
            return self.project_pinhole(points)
        cv2 = opencv()
        rvec = cv2.Rodrigues(self.rotation)[0]
        if self.fisheye:
            pixels = cv2.fisheye.projectPoints(points[:, None], rvec, self.translation, self.matrix,
                                               self.distortion[:4])[0]
        else:
            pixels = cv2.projectPoints(points, rvec, self.translation, self.matrix, self.distortion)[0]
        return pixels.reshape(-1, 2)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pinhole pixels (same K, no distortion) of real image ``pixels`` (N, 2)."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float64).reshape(-1, 2)
        if not self.distorted or len(pixels) == 0:
            return pixels.copy()
        cv2 = opencv()
        if self.fisheye:
            out = cv2.fisheye.undistortPoints(pixels[:, None], self.matrix, self.distortion[:4], P=self.matrix)
        else:
            out = cv2.undistortPoints(pixels[:, None], self.matrix, self.distortion, P=self.matrix)
        return out.reshape(-1, 2)


@dataclass
class CameraRig:
    """The cameras of one calibration file (``source``), in the file's order."""

    cameras: list[Camera]
    source: Path = field(default_factory=Path)

    def __post_init__(self) -> None:
        names = [camera.name for camera in self.cameras]
        if not names:
            raise CalibrationError(f"{self.source}: no camera in the calibration")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise CalibrationError(f"{self.source}: camera names repeat: {', '.join(repeated)}")

    @property
    def names(self) -> list[str]:
        return [camera.name for camera in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self):
        return iter(self.cameras)

    def __getitem__(self, name: str) -> Camera:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f"{self.source}: no camera named {name!r} (cameras: {', '.join(self.names)})")

    def subset(self, names: list[str]) -> "CameraRig":
        """The rig of the named cameras only, in ``names``' order."""
        return CameraRig([self[name] for name in names], self.source)
