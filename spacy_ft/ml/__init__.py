"""Model pieces the components share that need no transformer.

``head_dropout`` (a head's own dropout rate, untouched by ``nlp.update(drop=...)``) and
``fork_safety`` (torch on one thread in ``nlp.pipe(n_process=N)`` workers). Nothing is
imported here: spaCy imports the component modules for every pipeline.
"""
