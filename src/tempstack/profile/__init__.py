"""Measurements taken while the stack is tested: memory, HTTP latency, SQL, budgets."""
