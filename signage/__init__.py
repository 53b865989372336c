"""signage: anti-fraud publicity scheduler with a provable gap rule and a proof-of-play log."""

import importlib.machinery as _machinery
import sys as _sys
import types as _types

__version__ = "0.1.0"

_PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"


def _get_plugins(*_args: object, **_kwargs: object) -> tuple[()]:
    return ()


class _NoPydanticPlugins:  # a meta path finder and its loader (not importlib.abc's classes:
    # importing that module brings importlib.resources and tempfile)
    """signage runs no pydantic plugins, as with PYDANTIC_DISABLE_PLUGINS=__all__. pydantic
    looks for them at its first model class by importing ``pydantic.plugin._loader``, which
    imports importlib.metadata (with zipfile, email, csv, shutil, lzma…: ~1.3 MiB of the
    daemon's 60 MB budget, docs/benchmarks.md) even when plugins are disabled. When pydantic
    imports that module, this finder gives it one that answers "no plugins". Checked by
    tests/runtime/test_daemon_imports.py (the daemon never loads importlib.metadata)."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> _machinery.ModuleSpec | None:
        if fullname != _PYDANTIC_PLUGIN_LOADER:
            return None
        return _machinery.ModuleSpec(fullname, self)  # type: ignore[arg-type]

    def create_module(self, spec: _machinery.ModuleSpec) -> _types.ModuleType | None:
        return None

    def exec_module(self, module: _types.ModuleType) -> None:
        module.__doc__ = "signage: no pydantic plugins (signage/__init__.py)"
        module.get_plugins = _get_plugins  # type: ignore[attr-defined]


if _PYDANTIC_PLUGIN_LOADER not in _sys.modules and not any(
        isinstance(f, _NoPydanticPlugins) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _NoPydanticPlugins())
