"""Thinc layers, one per module. No heavy imports at module level."""
