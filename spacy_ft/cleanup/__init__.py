"""``spacy_ft_trf_cleanup``: drop transformer output later components no longer need."""
