"""Rules, one module per rule, grouped in one package per family."""
