"""Admin of the campaigns app (nothing registered yet)."""
