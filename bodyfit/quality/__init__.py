"""Per-person quality figures of fits: each a value, its threshold (``cfg/quality.yaml``) and a
flag (``quality.assess``), from pure batched functions (``quality.figures``)."""
