"""On-the-spot inspection: the signed code on screens and its checks.

Format: docs/inspection-code.md; for inspectors: docs/inspection.md."""
