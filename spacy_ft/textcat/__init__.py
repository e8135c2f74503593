"""``spacy_ft_textcat``: the fine-tuned transformer classifier.

``component`` (the trainable pipe) <- ``model`` (``spacy_ft.TransformerClassifier.v1``)
<- ``doc_pooling`` ([CLS] / mean / max over a doc's windows); ``scoring`` (score
names and per-label thresholds), ``thresholds`` (fit them on dev data).
"""
