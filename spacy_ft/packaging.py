"""Check that a packaged pipeline deploys as it will in production.

``spacy package`` can silently produce a package that loads only on the machine that
built it: a component's code not found without a manual ``import spacy_ft``, a file
left out of the package, weights read from a package or a directory of the training
machine, a requirement that is not declared. So the check does what a production
machine does:

1. spacy_ft is built as a wheel from its source tree into a local *wheelhouse*,
   standing in for the package index;
2. a new virtual environment is created with no view of this one (no ``.pth`` link,
   no ``PYTHONPATH``), and gets, as the installation docs say, the torch build first,
   then the spacy_ft wheel and the pipeline package, pip resolving every other
   requirement from the package index;
3. ``spacy.load(name)`` runs in a child process started in an empty directory, which
   never imports spacy_ft by hand (entry points must do it);
4. its entities and cats are compared with the training output's, doc by doc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

#: Probabilities may differ in the last bits between processes (thread counts).
CATS_TOLERANCE = 1e-4

#: Variables that would give the child a view of this environment or this checkout.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX")

_CHILD = r"""
import json, sys, time
start = time.perf_counter()
import spacy
name, texts = sys.argv[1], json.load(sys.stdin)
nlp = spacy.load(name)
loaded = time.perf_counter() - start
out = {"pipeline": nlp.pipe_names, "load_seconds": loaded, "docs": [],
       "spacy_ft_imported_from": getattr(sys.modules.get("spacy_ft"), "__file__", None)}
for doc in nlp.pipe(texts):
    out["docs"].append({
        "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
        "cats": doc.cats,
    })
print(json.dumps(out))
"""


class DeploymentError(RuntimeError):
    """A step of the deployment failed: the message says which, with the tool's output."""


def clean_environment() -> dict[str, str]:
    """This process's environment without what would let a child see this environment."""
    return {key: value for key, value in os.environ.items() if key not in _LEAKY_VARIABLES}


def _run(command: Sequence[Union[str, Path]], what: str, cwd: Optional[Path] = None, **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, env=clean_environment(), cwd=cwd, **kwargs
    )
    if result.returncode != 0:
        raise DeploymentError(f"[spacy_ft] {what} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def source_tree() -> Optional[Path]:
    """The source tree this spacy_ft was imported from, when it is one (an editable or
    in-place install); None for an installed wheel."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "setup.cfg").is_file() and (root / "spacy_ft").is_dir() else None


def build_wheel(source: Path, wheelhouse: Path) -> Path:
    """Build spacy_ft from ``source`` as a wheel into ``wheelhouse``; return the wheel.

    No build isolation: this environment's setuptools builds it, offline."""
    if not (source / "setup.cfg").is_file():
        raise DeploymentError(f"[spacy_ft] {source} is not a spacy_ft source tree (no setup.cfg)")
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for old in wheelhouse.glob("spacy_ft-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as build_dir:
        # Build from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
        copy = Path(build_dir) / "src"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "training", "packages", "corpus", "metrics", "site", ".gpu",
            ".whl", "__pycache__"))
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheelhouse, copy],
             f"building the spacy_ft wheel from {source}")
    wheels = sorted(wheelhouse.glob("spacy_ft-*.whl"))
    if not wheels:
        raise DeploymentError(f"[spacy_ft] pip wheel wrote no spacy_ft wheel into {wheelhouse}")
    return wheels[-1]


def create_clean_venv(directory: Path) -> Path:
    """A new virtual environment with its own pip and nothing else; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True, system_site_packages=False).create(directory)
    python = directory / "bin" / "python"
    probe = _run([python, "-c", "import sys, json; print(json.dumps(sys.path))"], "starting the new environment")
    here = str(Path(sys.prefix).resolve())
    leaks = [entry for entry in json.loads(probe.stdout) if entry and entry.startswith(here)]
    if leaks:
        raise DeploymentError(f"[spacy_ft] the new environment sees this one: {leaks}")
    return python


def torch_requirement() -> str:
    """The torch this environment runs (``torch==2.13.0``), installed first as the
    installation docs say, so pip never swaps in another build."""
    import torch

    return "torch==" + torch.__version__.split("+")[0]


def install(python: Path, requirements: Sequence[str], what: str, wheelhouse: Path) -> float:
    """``pip install`` into the new environment, resolving from the index and the
    wheelhouse; returns the seconds it took."""
    start = time.perf_counter()
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--find-links", wheelhouse,
          *requirements], f"pip install of {what}")
    return time.perf_counter() - start


def installed_packages(python: Path) -> dict[str, str]:
    listing = _run([python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"], "pip list")
    return {item["name"]: item["version"] for item in json.loads(listing.stdout)}


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def load_in_child(python: Path, name: str, texts: Sequence[str]) -> dict[str, Any]:
    """``spacy.load(name)`` in a child process of ``python``, started in an empty directory."""
    python = python.absolute()  # the child starts elsewhere; absolute(), not resolve(): a venv's python is a link
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(
            [str(python), "-c", _CHILD, name], input=json.dumps(list(texts)), capture_output=True, text=True,
            env=clean_environment(), cwd=empty,
        )
    if result.returncode != 0:
        raise DeploymentError(f"[spacy_ft] spacy.load({name!r}) failed in the new environment:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def predictions(nlp: Any, texts: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {"ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents], "cats": doc.cats}
        for doc in nlp.pipe(texts)
    ]


def differences(expected: list[dict[str, Any]], got: list[dict[str, Any]], texts: Sequence[str]) -> list[str]:
    """Human-readable differences, one per doc that disagrees."""
    problems = []
    for i, (want, have) in enumerate(zip(expected, got)):
        if want["ents"] != have["ents"]:
            problems.append(f"doc {i} {texts[i]!r}: ents {have['ents']} != {want['ents']}")
        if set(want["cats"]) != set(have["cats"]) or any(
            abs(want["cats"][k] - have["cats"][k]) > CATS_TOLERANCE for k in want["cats"]
        ):
            problems.append(f"doc {i} {texts[i]!r}: cats {have['cats']} != {want['cats']}")
    if len(expected) != len(got):
        problems.append(f"{len(got)} docs came back for {len(expected)} texts")
    return problems


def smoke_load(
    dist: Path,
    name: str,
    reference_dir: Path,
    texts: Sequence[str],
    venv_dir: Path,
    *,
    source: Optional[Path] = None,
    wheelhouse: Optional[Path] = None,
    torch: Optional[str] = None,
    reuse_venv: bool = False,
) -> dict[str, Any]:
    """Deploy ``dist`` into a clean environment, load ``name`` there and compare with
    ``reference_dir``.

    ``source``: the spacy_ft source tree to build the wheel from (default: the one this
    spacy_ft runs from). ``wheelhouse``: where the wheel goes (default: beside
    ``venv_dir``). ``torch``: the torch requirement installed first (default: this
    environment's version). ``reuse_venv``: keep an environment made by an earlier call
    (with its torch and spacy_ft) and only add the package: for tests that check
    several packages.

    Raises :class:`DeploymentError` when a step fails and ``AssertionError`` listing
    every doc whose entities or cats differ.
    """
    import spacy

    if not dist.is_file():
        raise FileNotFoundError(f"[spacy_ft] packaged pipeline not found: {dist}")
    # Every path absolute: the load runs in another directory.
    dist, reference_dir, venv_dir = dist.absolute(), reference_dir.absolute(), venv_dir.absolute()
    wheelhouse = wheelhouse.absolute() if wheelhouse else None
    source = source or source_tree()
    if source is None:
        raise DeploymentError("[spacy_ft] spacy_ft is not running from a source tree: pass the tree to build from")
    wheelhouse = wheelhouse or venv_dir.parent / (venv_dir.name + "-wheelhouse")
    timings: dict[str, float] = {}
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".spacy_ft_base"
    if not (reuse_venv and marker.is_file() and python.is_file()):
        start = time.perf_counter()
        wheel = build_wheel(source, wheelhouse)
        timings["build_wheel"] = time.perf_counter() - start
        start = time.perf_counter()
        python = create_clean_venv(venv_dir)
        timings["create_venv"] = time.perf_counter() - start
        timings["install_torch"] = install(python, [torch or torch_requirement()], "torch", wheelhouse)
        timings["install_spacy_ft"] = install(python, [str(wheel)], wheel.name, wheelhouse)
        marker.write_text(wheel.name, encoding="utf-8")
    timings["install_package"] = install(python, [str(dist)], dist.name, wheelhouse)
    loaded = load_in_child(python, name, texts)
    timings["load"] = loaded["load_seconds"]
    imported_from = loaded["spacy_ft_imported_from"]
    if imported_from and not Path(imported_from).resolve().is_relative_to(venv_dir.resolve()):
        raise DeploymentError(
            f"[spacy_ft] the new environment imported spacy_ft from {imported_from}, "
            f"not from its own site-packages")
    expected = predictions(spacy.load(reference_dir), texts)
    problems = differences(expected, loaded["docs"], texts)
    if problems:
        raise AssertionError("[spacy_ft] packaged pipeline differs from the training output:\n" + "\n".join(problems))
    return {
        "package": str(dist),
        "name": name,
        "package_bytes": dist.stat().st_size,
        "pipeline": loaded["pipeline"],
        "docs": len(texts),
        "entities": sum(len(d["ents"]) for d in loaded["docs"]),
        "python": sys.version.split()[0],
        "seconds": timings,
        "install_to_load_seconds": sum(timings.values()),
        "venv_bytes": directory_size(venv_dir),
        "installed": installed_packages(python),
    }
