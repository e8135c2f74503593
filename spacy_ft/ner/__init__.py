"""``spacy_ft_ner``: the NER head over wordpiece or character units.

``component`` (the trainable pipe: orchestrates) <- ``model`` (the registered
builders) <- ``units`` (``wordpiece``, ``character``: the units of each encoder
output and their features) <- ``head`` (``DocUnits``, the layers and scoring every
head shares) <- ``crf`` (the linear-chain CRF: its parameters, batched loss, Viterbi
and marginals); ``bio`` (tags, their constraints, the softmax alternative).
"""
