"""`signage console`: the local web console (docs/console.md)."""
