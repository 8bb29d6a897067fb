"""Release phase: the quality gate, registration lineage and card, aliases, promotion review."""
