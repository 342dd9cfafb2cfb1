"""Stand-in for the national training registry (contract: ``openapi.yaml``)."""
