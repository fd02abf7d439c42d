"""Tests for torchlint.runtime (real torch on the CPU; CUDA tests skip without a GPU)."""
