"""Mesh rendering for overlays and documentation (CPU, no OpenGL needed)."""
from bodyfit.rendering.raster import MeshLayer, RenderResult, look_at_camera, rasterize

__all__ = ["MeshLayer", "RenderResult", "look_at_camera", "rasterize"]
