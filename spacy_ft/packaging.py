"""Check that a packaged pipeline behaves like the pipeline it was built from.

``spacy package`` can silently produce a package that loads differently: a
component's code not found without a manual ``import spacy_ft``, a file left
out of the package, a user dictionary read from the training machine. So the
check installs the built package into a *fresh* virtual environment, loads it by
name in a child process that never imports ``spacy_ft`` itself (entry points
must do it), and compares entities and cats with the training output doc by doc.

The fresh environment sees this interpreter's site-packages through a ``.pth``
file (spaCy, torch and spacy_ft are not reinstalled: that would take minutes
and a network), but the pipeline package itself is installed only there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Probabilities may differ in the last bits between processes (thread counts).
CATS_TOLERANCE = 1e-4

_CHILD = r"""
import json, sys
import spacy
name, texts = sys.argv[1], json.load(sys.stdin)
nlp = spacy.load(name)
out = {"pipeline": nlp.pipe_names, "imported_by_hand": False, "docs": []}
for doc in nlp.pipe(texts):
    out["docs"].append({
        "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
        "cats": doc.cats,
    })
print(json.dumps(out))
"""


def create_fresh_venv(directory: Path) -> Path:
    """A new virtual environment whose only view of this one is a ``.pth`` file; returns its python."""
    venv.EnvBuilder(with_pip=False, clear=True).create(directory)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "_spacy_ft_parent_env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    return python


def install_package(python: Path, dist: Path) -> None:
    """Install the built pipeline (sdist or wheel) offline: no dependency resolution, no build
    isolation. This interpreter's pip does it (``pip --python``), so the fresh environment needs no
    pip or setuptools of its own, which would shadow the parent's newer ones."""
    if not dist.is_file():
        raise FileNotFoundError(f"[spacy_ft] packaged pipeline not found: {dist}")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
         "--no-index", str(dist)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"[spacy_ft] pip could not install {dist}:\n{result.stdout}\n{result.stderr}")


def load_in_child(python: Path, name: str, texts: Sequence[str]) -> dict[str, Any]:
    """Run the pipeline in a child process that imports only spaCy by hand."""
    result = subprocess.run(
        [str(python), "-c", _CHILD, name], input=json.dumps(list(texts)), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"[spacy_ft] spacy.load({name!r}) failed in the fresh environment:\n{result.stderr}")
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


def smoke_load(dist: Path, name: str, reference_dir: Path, texts: Sequence[str], venv_dir: Path) -> dict[str, Any]:
    """Install ``dist`` into a fresh venv, load ``name`` there and compare with ``reference_dir``.

    Raises ``AssertionError`` listing every doc whose entities or cats differ.
    """
    import spacy

    python = create_fresh_venv(venv_dir)
    install_package(python, dist)
    loaded = load_in_child(python, name, texts)
    expected = predictions(spacy.load(reference_dir), texts)
    problems = differences(expected, loaded["docs"], texts)
    if problems:
        raise AssertionError("[spacy_ft] packaged pipeline differs from the training output:\n" + "\n".join(problems))
    return {
        "package": str(dist),
        "name": name,
        "pipeline": loaded["pipeline"],
        "docs": len(texts),
        "entities": sum(len(d["ents"]) for d in loaded["docs"]),
        "python": sys.version.split()[0],
    }
