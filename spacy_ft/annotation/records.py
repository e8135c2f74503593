"""The records pre-annotation passes around: inputs, predictions, rejected lines.

A leaf module: plain, picklable dataclasses that every engine (local, Ray) and
every writer (annotation tools, Parquet) share without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

#: Why a record goes to the errors file instead of the model (every engine).
ERROR_REASONS = ("bad_encoding", "empty", "too_long")


@dataclass(frozen=True)
class InputRecord:
    """One raw doc to pre-annotate. ``id`` is the JSONL record's ``id`` or the
    line number; ``meta`` is passed through to the exported task untouched."""

    text: str
    id: Any
    line: int
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "<input>"


@dataclass(frozen=True)
class RecordError:
    """A record that never reached the model: written to the errors file so
    ``records in == predictions out + errors`` always holds."""

    id: Any
    line: int
    reason: str  # one of ERROR_REASONS
    detail: str
    source: str = "<input>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
        }


@dataclass(frozen=True)
class ScoredEntity:
    start: int
    end: int
    label: str
    #: The NER's confidence; None when the pipeline writes no scores.
    score: Optional[float] = None


@dataclass(frozen=True)
class Token:
    """Kept so Prodigy tasks can show the pipeline's own (possibly split) tokens."""

    start: int
    end: int
    ws: bool


@dataclass(frozen=True)
class Prediction:
    """Everything a writer needs, without the Doc (cheap to pickle and ship)."""

    id: Any
    line: int
    text: str
    entities: list[ScoredEntity]
    cats: dict[str, float]
    tokens: list[Token]
    model: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def confidence(self) -> Optional[float]:
        """The least confident decision in the doc: the lowest entity score, or
        the top class probability if that is lower; None when nothing is scored
        (no entity found and no classifier), since there is nothing to rank."""
        scores = [ent.score for ent in self.entities if ent.score is not None]
        if self.cats:
            scores.append(max(self.cats.values()))
        return min(scores) if scores else None

    @property
    def uncertainty(self) -> Optional[float]:
        """``1 - confidence``: sort descending to review the shakiest docs first."""
        confidence = self.confidence
        return None if confidence is None else 1.0 - confidence

    @property
    def accepted_cats(self) -> list[str]:
        """Labels the model would assign (probability >= 0.5), in label order:
        what the exported task preselects for the annotator."""
        return [label for label, value in self.cats.items() if value >= 0.5]
