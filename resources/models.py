"""共享空间 models."""

from __future__ import annotations
