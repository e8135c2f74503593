"""The Jieba tokenizer (``spacy_ft.JiebaTokenizer.v1``).

``component`` (the spaCy tokenizer, serialization) <- ``segmenters`` (jieba and
jieba_next backends). jieba's dictionary, its route, its HMM and user dictionaries
live in :mod:`spacy_ft.jieba`, shared with the character encoder.
"""
