"""Telebridge: the open platform for a national hub-and-spoke telehealth network."""

__version__ = "0.1.0"
