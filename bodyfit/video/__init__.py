"""Video: tracking people across frames, the sequence fit, the temporal regressor run, video files."""
