"""Faster inference backends: torch int8 (``quantize``) and ONNX Runtime (``onnx``).

Both replace the transformer's shim with one whose model runs elsewhere, so
spacy-transformers' alignment, windows and heads stay untouched.
"""
