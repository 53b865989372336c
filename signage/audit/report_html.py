"""placeholder"""
from pathlib import Path

from .model import AuditResult


def write_report(result: AuditResult, path: Path) -> None:
    path.write_text("todo")
