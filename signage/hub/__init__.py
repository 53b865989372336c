"""The fleet hub: receives, verifies and stores every site's log (docs/fleet.md)."""
