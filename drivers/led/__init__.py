"""Onbon BX-5E/6E LED board driver."""
