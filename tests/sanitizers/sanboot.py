"""Loaded first in the sanitizer subprocess: puts the ASan/UBSan builds of the two compiled
fast paths in place of the installed ones, before anything imports them.

    SIGNAGE_SAN_DIR=<dir with the two .so> python -c "import tests.sanitizers.sanboot; ..."
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def _load(name: str, path: Path) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod


_dir = Path(os.environ["SIGNAGE_SAN_DIR"])
_load("signage.audit._fastscan", _dir / f"_fastscan{SUFFIX}")
_load("signage.playlog._fastlog", _dir / f"_fastlog{SUFFIX}")
