"""TL9: distributed and mixed-precision training."""
