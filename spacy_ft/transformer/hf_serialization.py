"""Rebuilding a Hugging Face config and tokenizer from a spacy-transformers shim's bytes.

Why this exists: ``HFShim.from_bytes`` rebuilds the config and tokenizer and then
loads torch weights in one method. spacy_ft's inference shims (int8 torch, ONNX
Runtime) keep the first half and replace the second, so the first half lives
here once instead of in each shim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple


def config_and_tokenizer(shim: Any, msg: Dict[str, Any]) -> Tuple[Any, Any, Optional[bytes]]:
    """(config, tokenizer, vocab file bytes) from a shim message (``msg["config"]`` set).

    The tokenizer files travel in ``msg["tokenizer"]`` (file name -> bytes, plus
    ``kwargs``); they are written to a temporary directory because Hugging Face
    tokenizers only load from files.
    """
    import srsly
    from spacy_transformers.util import make_tempdir

    tok_dict = dict(msg["tokenizer"])
    with make_tempdir() as temp_dir:
        srsly.write_json(temp_dir / "config.json", msg["config"])
        config = shim.config_cls.from_pretrained(temp_dir / "config.json")
        tok_kwargs = tok_dict.pop("kwargs", {})
        for file_name, file_bytes in tok_dict.items():
            Path(temp_dir / file_name).write_bytes(file_bytes)
        tokenizer = shim.tokenizer_cls.from_pretrained(str(temp_dir.absolute()), **tok_kwargs)
        vocab_file_contents = None
        if hasattr(tokenizer, "vocab_file"):
            vocab_file_name = tokenizer.vocab_files_names["vocab_file"]
            vocab_file_contents = (temp_dir / vocab_file_name).read_bytes()
    return config, tokenizer, vocab_file_contents
