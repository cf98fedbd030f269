"""Models of the campaigns app (none yet)."""
