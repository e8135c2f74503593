"""Type aliases every layer shares; a leaf module that imports nothing of ours."""

from pathlib import Path
from typing import Tuple, Union

#: A file or directory argument: what users pass, before it becomes a ``Path``.
PathLike = Union[str, Path]
#: An entity by character offsets in its text: (start, end, label), end exclusive.
Entity = Tuple[int, int, str]
