"""Simulated populations: one module per family of actors."""
