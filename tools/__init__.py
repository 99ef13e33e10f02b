"""Build-time tools (the open body model converter); not needed to fit."""
