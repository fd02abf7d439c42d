"""TL7: serialization and security."""
