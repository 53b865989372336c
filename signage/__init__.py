"""signage: anti-fraud publicity scheduler with a provable gap rule and a proof-of-play log."""

__version__ = "0.1.0"
