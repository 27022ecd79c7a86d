"""Console views, one module per page group; each module exposes ``router``."""
