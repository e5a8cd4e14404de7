"""Time bank ledger (时间银行账本)."""
