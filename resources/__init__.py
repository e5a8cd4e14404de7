"""Shared spaces (共享空间): spaces, opening rules, reservations, waitlists."""
