"""Models of the points app (none yet)."""
