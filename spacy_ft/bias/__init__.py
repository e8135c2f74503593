"""Bias checker: term lists, the ``spacy_ft_bias`` component, audit and mitigation.

Only ``terms`` and the component are imported by ``spacy.load``; the audit's
heavier libraries (fairlearn, matplotlib) load inside the audit functions.
"""
