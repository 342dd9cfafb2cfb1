"""Deterministic, streaming synthetic data: workforce, day-N changes, learning history.

Everything is a pure function of ``(tenant_id, seed)`` (plus a fixed reference
date), so two runs, two processes or two sandboxes produce the same records.
Generators stream; nothing builds the whole workforce in memory.
"""
