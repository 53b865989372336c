"""Tests of the mpv HDMI driver against the real mpv and ffprobe."""
