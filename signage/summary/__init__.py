"""The campaign summary (活动总结): `signage report` (docs/report.md)."""
