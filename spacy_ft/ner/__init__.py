"""``spacy_ft_ner``: the NER head over wordpiece or character units.

``component`` (the trainable pipe) <- ``model`` (``spacy_ft.TokenClassifier.v1``)
<- ``unit_classifier`` (the thinc layer) <- ``units`` (which character spans the
head labels), ``bio`` (tags, constrained decoding) and ``crf`` (the linear-chain CRF).
"""
