"""Majlis: community-health automation (connectors -> warehouse -> rules -> dispatch)."""

__version__ = "0.1.0"
