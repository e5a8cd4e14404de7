"""timebank: volunteer time bank, matching and shared spaces for urban communities (社区)."""
