"""Needs, shifts, volunteers, assignments and matching runs."""
