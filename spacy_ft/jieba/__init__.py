"""jieba's dictionary in one place, for the tokenizer and the character encoder.

``dictionary`` (jieba's ``dict.txt``: its words, frequencies and total; a private
jieba instance loaded with it) <- ``route`` (jieba's dictionary route: the word graph,
the most probable route, the cut without HMM and ``suggest_freq``), ``hmm`` (jieba's
HMM for unknown words) and ``user_entries`` (user dictionaries, with a version that
counts their changes).

The tokenizer segments with this dictionary and the character encoder matches its words
as SoftLexicon features; both read one user dictionary, and reading it through the same
code is what makes the two agree on what a word and its frequency are.

Nothing here imports jieba at module import: spaCy imports the component modules for
every pipeline, and they import this package. jieba is imported when a dictionary is read
or loaded.
"""
