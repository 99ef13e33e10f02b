"""VPoser: a variational auto-encoder over the 21 body joints' rotations, used as a pose prior."""
