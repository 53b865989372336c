"""The CLIs' answer to a config.toml they cannot load: each problem on its own line on stderr
(sanitized: the text quotes the file), then exit status 1. Thin shell over config.load_config."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .config import SiteConfig, load_config
from .problems import InputError
from .render import sanitize


def config_or_exit(config: Path) -> SiteConfig:
    """``config`` loaded, or its problems printed and ``typer.Exit(1)`` raised."""
    try:
        return load_config(config)
    except InputError as exc:
        for p in exc.problems:
            print(sanitize(str(p)), file=sys.stderr)
        raise typer.Exit(1) from None
