"""Page views, split by who uses them. Thin: they read through selectors and
write through the same services the API uses."""
