"""bodyfit: SMPL, SMPL-H and SMPL-X bodies fitted to 2D keypoints of images, videos and camera rigs.

The small public API lives in ``bodyfit.api``; the command line in ``bodyfit.cli``.
"""
__version__ = "0.2.0"
