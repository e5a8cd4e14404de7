"""The matching API, split by concept; `matching.api.router` assembles it."""
