"""signage: anti-fraud publicity scheduler with a provable gap rule and a proof-of-play log."""

import sys as _sys
import types as _types

__version__ = "0.1.0"


def _no_pydantic_plugins() -> None:
    """signage runs no pydantic plugins, as with PYDANTIC_DISABLE_PLUGINS=__all__. pydantic
    looks for them at the first model class through its ``pydantic.plugin._loader``, which
    imports importlib.metadata (with zipfile, email, csv, …: ~1.3 MiB of the daemon's 60 MB
    budget, docs/benchmarks.md) even when plugins are disabled. That module is put in place
    here, answering "no plugins", unless pydantic has loaded it already. Checked by
    tests/runtime/test_daemon_imports.py (the daemon never loads importlib.metadata)."""
    name = "pydantic.plugin._loader"
    if name in _sys.modules:
        return
    mod = _types.ModuleType(name, "signage: no pydantic plugins (signage/__init__.py)")

    def get_plugins(*_args: object, **_kwargs: object) -> tuple[()]:
        return ()

    mod.get_plugins = get_plugins  # type: ignore[attr-defined]
    _sys.modules[name] = mod


_no_pydantic_plugins()
