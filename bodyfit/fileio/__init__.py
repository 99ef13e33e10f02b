"""The bottom layer: keypoint layout and file formats (OpenPose JSON, images), atomic writes,
typed configuration from YAML. It imports nothing else of bodyfit."""
