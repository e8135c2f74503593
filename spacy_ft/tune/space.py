"""The search-space file: dotted spaCy config paths mapped to Optuna distributions.

```yaml
training.optimizer.learn_rate.initial_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
training.batcher.size: {type: int, low: 8, high: 32, step: 8}
components.ner.model.crf: {type: categorical, choices: [true, false]}
```

Keys are the same dotted paths as spaCy's CLI overrides (``--training.dropout``),
so a sampled value is exactly an override. Everything is checked up front,
against the file and against the config, so a typo fails before the first
(possibly hour-long) trial instead of inside it. Nothing here imports optuna:
:meth:`SearchSpace.suggest` takes any object with Optuna's ``suggest_*`` methods.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

SPEC_KEYS = {
    "float": ({"type", "low", "high"}, {"log", "step"}),
    "int": ({"type", "low", "high"}, {"log", "step"}),
    "categorical": ({"type", "choices"}, set()),
}

# The space used when --space is not given (configs/tune_space.yml holds the
# same, as a file to copy; a test keeps the two equal). No training.dropout: the
# heads keep their own dropout (ml.head_dropout) and the transformer's lives
# in its torch config, so in these pipelines it changes nothing.
DEFAULT_SPACE: Dict[str, Dict[str, Any]] = {
    "training.optimizer.learn_rate.initial_rate": {"type": "float", "low": 1e-5, "high": 2e-3, "log": True},
    "training.batcher.size": {"type": "int", "low": 8, "high": 32, "step": 8},
    "components.textcat.model.pooling": {"type": "categorical", "choices": ["cls", "mean", "max"]},
    "components.textcat.model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    "components.textcat.model.output_init": {"type": "categorical", "choices": ["glorot", "zero"]},
    "components.ner.model.crf": {"type": "categorical", "choices": [True, False]},
    "components.ner.model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
}


@dataclass(frozen=True)
class Param:
    """One tuned setting: its dotted config path and its distribution."""

    path: str
    kind: str  # float, int or categorical
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: Tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.path, int(self.low or 0), int(self.high or 0), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)


@dataclass
class SearchSpace:
    """The parameters to tune, in file order, and where they came from (for messages)."""

    params: List[Param]
    source: str = "<default space>"
    skipped: List[str] = field(default_factory=list)

    def suggest(self, trial: Any) -> Dict[str, Any]:
        """Sample every parameter (also Ray's define-by-run space function)."""
        return {param.path: param.suggest(trial) for param in self.params}

    def check_config(self, config: Dict[str, Any], config_name: str) -> None:
        """Every key must name an existing setting of the config: fail before training."""
        for param in self.params:
            problem = missing_setting(config, param.path)
            if problem:
                raise ValueError(f"{self.source}: {param.path!r} {problem} in {config_name}")

    def restrict_to(self, config: Dict[str, Any]) -> "SearchSpace":
        """The default space minus settings the config lacks (e.g. no NER component)."""
        kept = [param for param in self.params if not missing_setting(config, param.path)]
        skipped = [param.path for param in self.params if param not in kept]
        return SearchSpace(kept, self.source, skipped)


def missing_setting(config: Dict[str, Any], path: str) -> Optional[str]:
    """Why ``path`` is not a setting of ``config`` (None when it is)."""
    node: Any = config
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the top level"
            options = ", ".join(sorted(node)) if isinstance(node, dict) else "nothing (it is a value)"
            return f"is not a setting: {where} has {options}"
        node = node[part]
    if isinstance(node, dict):
        return f"is a section, not a setting (it has {', '.join(sorted(node))})"
    return None


def apply_params(config: Any, params: Dict[str, Any]) -> Any:
    """A copy of ``config`` (a thinc Config or dict) with the sampled values set."""
    config = copy.deepcopy(config)
    for path, value in params.items():
        *sections, key = path.split(".")
        node = config
        for section in sections:
            node = node[section]
        node[key] = value
    return config


def _number(value: Any, source: str, key: str, name: str) -> float:
    # PyYAML reads 1e-5 (no dot) as a string; accept it rather than make users learn YAML 1.1.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{source}: {key!r}: {name} must be a number, got {value!r}")
    return value


def parse_param(path: str, spec: Any, source: str) -> Param:
    """Check one entry of the file and turn it into a :class:`Param`."""
    if not isinstance(spec, dict):
        raise ValueError(
            f"{source}: {path!r}: expected a mapping like {{type: float, low: ..., high: ...}}, got {spec!r}"
        )
    kind = spec.get("type")
    if kind not in SPEC_KEYS:
        raise ValueError(f"{source}: {path!r}: type must be one of {', '.join(SPEC_KEYS)}, got {kind!r}")
    required, optional = SPEC_KEYS[kind]
    missing = required - set(spec)
    unknown = set(spec) - required - optional
    if missing:
        raise ValueError(f"{source}: {path!r}: a {kind} parameter needs {', '.join(sorted(missing))}")
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ValueError(
            f"{source}: {path!r}: unknown field(s) {', '.join(sorted(unknown))} (a {kind} takes {allowed})"
        )
    if kind == "categorical":
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{source}: {path!r}: choices must be a non-empty list, got {choices!r}")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ValueError(
                    f"{source}: {path!r}: choices must be numbers, strings, booleans or null, got {choice!r}"
                )
        return Param(path, kind, choices=tuple(choices))
    low, high = (_number(spec[name], source, path, name) for name in ("low", "high"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{source}: {path!r}: log must be true or false, got {log!r}")
    step = spec.get("step")
    if step is not None:
        step = _number(step, source, path, "step")
        if step <= 0:
            raise ValueError(f"{source}: {path!r}: step must be positive, got {step}")
        if log:
            raise ValueError(f"{source}: {path!r}: Optuna cannot combine step with log = true")
    if low > high:
        raise ValueError(f"{source}: {path!r}: low ({low}) is above high ({high})")
    if log and low <= 0:
        raise ValueError(f"{source}: {path!r}: log = true needs low > 0, got {low}")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ValueError(
            f"{source}: {path!r}: an int parameter needs whole low/high/step, got {low}, {high}, {step}"
        )
    return Param(path, kind, float(low), float(high), log, step)


def parse_space(data: Any, source: str) -> SearchSpace:
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{source}: expected a non-empty mapping of config paths to parameters")
    params = []
    for path, spec in data.items():
        if not isinstance(path, str) or not all(path.split(".")):
            raise ValueError(f"{source}: {path!r} is not a dotted config path like training.dropout")
        params.append(parse_param(path, spec, source))
    return SearchSpace(params, source)


def load_space(path: Union[str, Path, None]) -> SearchSpace:
    """Read a .yml/.yaml or .json search-space file (None: :data:`DEFAULT_SPACE`)."""
    if path is None:
        return parse_space(DEFAULT_SPACE, "<default space>")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"search space file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yml", ".yaml"):
            from spacy_ft.tune import require

            data = require("yaml", "tune").safe_load(text)  # PyYAML comes with optuna
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: a search space file must end in .yml, .yaml or .json")
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: cannot read the search space: {err}") from err
    except Exception as err:  # yaml.YAMLError without importing yaml at module level
        if type(err).__module__.startswith("yaml"):
            raise ValueError(f"{path}: cannot read the search space: {err}") from err
        raise
    return parse_space(data, str(path))
