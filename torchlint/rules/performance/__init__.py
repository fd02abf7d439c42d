"""TL5: performance."""
