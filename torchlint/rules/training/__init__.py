"""TL3: training and evaluation loops (flow-aware rules)."""
