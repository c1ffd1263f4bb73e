"""Kruispunt: an open, vendor-neutral, supra-local ANPR server."""

__version__ = "0.1.0"
