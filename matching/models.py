"""需求与志愿服务 models."""

from __future__ import annotations
