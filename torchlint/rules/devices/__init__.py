"""TL2 — devices: GPU usage and device placement."""
