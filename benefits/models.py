"""Models of the benefits app (none yet)."""
