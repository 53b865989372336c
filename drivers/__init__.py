"""Built-in screen drivers, installed as ``signage_drivers`` and registered in the ``signage.drivers`` entry-point group."""
