"""Built-in screen drivers.

Installed as ``signage_drivers`` and registered in the ``signage.drivers`` entry-point group.
"""
