"""Reports shared by ``evaluate``, the bias audit and the benchmarks.

``gold`` (predictions paired with gold docs), ``entities`` (entity scores on
character offsets, per-type report), ``confusion`` (the classifier's decision
rule and confusion matrix), ``displacy_page`` (an HTML page of differences).
"""
