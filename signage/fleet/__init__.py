"""The box side of the fleet link: ships the log to the hub over MQTT (docs/fleet.md)."""
