"""Self-collision: part rules from skinning weights, a batched pair search, a penetration penalty."""
