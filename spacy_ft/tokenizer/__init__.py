"""The Jieba tokenizer (``spacy_ft.JiebaTokenizer.v1``).

``component`` (the spaCy tokenizer, serialization) <- ``segmenters`` (jieba and
jieba_next backends) <- ``jieba_algorithm`` (jieba's route search and HMM,
restated) and ``user_dict`` (user dictionaries saved with the pipeline).
"""
