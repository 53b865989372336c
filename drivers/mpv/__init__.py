"""mpv HDMI player driver."""
