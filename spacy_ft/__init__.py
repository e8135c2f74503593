"""spacy_ft: spaCy components that turn pretrained transformers into Chinese and English pipelines.

This module is imported by spaCy's entry-point machinery whenever any registered
name of ours is resolved, so it must stay light: no jieba, torch or transformers
imports here or in any entry-point module (see tests/test_entry_points.py).
"""

__version__ = "0.1.0"
