"""TL4: architecture and numerics."""
