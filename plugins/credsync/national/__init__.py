"""The national profile of a Saudi deployment: National ID / Iqama, ar-SA names, the national LRS (NELC)."""
