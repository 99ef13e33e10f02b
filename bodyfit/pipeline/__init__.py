"""Runs over folders of images: tasks from images and keypoint files, results written back
per image (records, meshes, overlays, summary, resume). Sits above the fitting core."""
