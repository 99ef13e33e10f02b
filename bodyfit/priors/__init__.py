"""Priors on body model parameters; each returns per-sample values (B,)."""
