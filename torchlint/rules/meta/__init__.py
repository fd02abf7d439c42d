"""TL0: findings about the file itself and about suppressions."""
