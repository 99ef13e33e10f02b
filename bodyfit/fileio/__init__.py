"""The bottom layer: keypoint layout and file formats (OpenPose JSON, images), atomic writes,
the checkpoint file of every learned part (``checkpoints``),
typed configuration from YAML. It imports nothing else of bodyfit."""
