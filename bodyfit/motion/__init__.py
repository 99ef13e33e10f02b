"""The open motion corpus: SMPL-X body-pose clips at 30 fps, their index and split, and the
tools to read, resample and mirror them."""
