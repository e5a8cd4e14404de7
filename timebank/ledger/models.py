"""时间银行账本 models."""

from __future__ import annotations
