"""playlog."""
