"""Make ``nlp.pipe(texts, n_process=N)`` work for pipelines that run torch.

spaCy forks worker processes on Linux. torch's CPU build runs its intra-op
thread pool on GNU OpenMP, which is not fork-safe: once the parent has used
it, the first multi-threaded torch call in a forked child hangs for ever. A
child that runs torch on one thread never enters that pool, and N processes
of one thread each is the parallelism the user asked for anyway. Components
that run torch call ``make_torch_fork_safe()``; it does not import torch.
"""

import os
import sys

_registered = False


def make_torch_fork_safe() -> None:
    global _registered
    if _registered or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(after_in_child=_one_torch_thread)
    _registered = True


def _one_torch_thread() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
