"""Keypoint files of other detectors: OpenPose BODY_25 / BODY_25B, COCO-17, COCO-WholeBody,
Halpe-26 / 136 and MediaPipe, in each tool's own JSON layout, read as bodyfit's layout."""
