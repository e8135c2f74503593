"""``spacy_ft_char_encoder``: Chinese without a transformer.

``component`` (a ``tok2vec``-style pipe that shares one vector per character with
its listeners, and keeps its lexicon in step with the tokenizer's dictionary) <-
``model`` (``spacy_ft.CharLexiconEncoder.v1``: character and bigram embeddings plus
SoftLexicon word features, then a CNN or BiLSTM; ``.v3`` adds Baidu LAC's pretrained
character states from ``lac_states``) <- ``lexicon`` (jieba's dictionary and the user
dictionary, matched per character). ``lac_file`` reads the files ``init-lac`` writes
(numpy only); ``lac_network`` and ``lac_states`` run LAC's network in torch.

Nothing is imported here: spaCy imports the component module for every pipeline,
so the model and the lexicon load only when a pipeline uses them.
"""
