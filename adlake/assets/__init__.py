"""Asset factories: one per layer, each turning validated configuration into Definitions."""
