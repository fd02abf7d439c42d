"""TL8: reproducibility."""
