"""Imports every layout writer module (each registers itself in WRITERS)."""
