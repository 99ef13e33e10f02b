"""Body models: SMPL, SMPL-H and SMPL-X from a model folder, and the open model."""
