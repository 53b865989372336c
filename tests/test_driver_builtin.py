"""The shipped drivers load by name without reading entry points (the daemon's memory,
docs/benchmarks.md): the names and classes must be the ones pyproject.toml registers."""

from __future__ import annotations

from importlib.metadata import entry_points

from signage.driver import BUILTIN, ENTRY_POINT_GROUP, Driver, available_drivers, load_driver


def test_builtin_drivers_are_the_registered_entry_points() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, (mod, attr) in BUILTIN.items():
        assert eps.get(name) == f"{mod}:{attr}", name
        cls = load_driver(name)
        assert issubclass(cls, Driver) and cls is entry_points(
            group=ENTRY_POINT_GROUP, name=name)[name].load()
    assert set(BUILTIN) <= set(available_drivers())
