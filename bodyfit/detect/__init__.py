"""Keypoint detection: MediaPipe landmarks mapped to OpenPose's layout."""
