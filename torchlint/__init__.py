"""torchlint: a linter that finds and fixes PyTorch anti-patterns."""

__version__ = "0.1.0"
