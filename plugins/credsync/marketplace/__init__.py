"""The talent marketplace sync (issue 17, seed 001): mapping, bulk export, signed events, reconciliation."""
