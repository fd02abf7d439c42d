"""TL1: data loading."""
