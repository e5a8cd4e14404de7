"""People: communities, members, roles, relatives and API tokens."""
