"""Several calibrated cameras: people matched across the views, triangulated, tracked through
time, and one body per person fitted to every camera at once, in the calibration's world frame."""
