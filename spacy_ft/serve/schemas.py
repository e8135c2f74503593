"""Request and response bodies of ``/v1/analyze`` and ``/health``.

Pydantic models, so FastAPI documents them in the OpenAPI schema. Types are
strict: a number where a text is expected is a 422, never silently ``"1"``.
Limits (texts per request, characters per text) are checked by the app, not
here, because exceeding them is a 413 with the setting named, not a 422.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class AnalyzeRequest(BaseModel):
    """A batch of texts to analyze in one request."""

    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(
        ...,
        min_length=1,
        description="The texts to analyze (UTF-8, not empty); one result per text, in order.",
        examples=[["Mary visited London yesterday.", "The hotel was great."]],
    )
    tokens: StrictBool = Field(True, description="Include the pipeline's tokens in each result.")


class TokenOut(BaseModel):
    text: str
    start: int = Field(..., description="Character offset (Python str index) of the first character.")
    end: int


class EntityOut(BaseModel):
    text: str
    label: str
    start: int
    end: int
    score: Optional[float] = Field(
        None, description="The NER's confidence; null when the pipeline writes no entity scores."
    )


class BiasOut(BaseModel):
    """Written only when the pipeline has a ``spacy_ft_bias`` component."""

    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Protected-attribute groups mentioned: {attribute: [group, ...]}"
    )
    flip: Optional[bool] = Field(
        None, description="Counterfactual check: the top label changed in some variant (null when off)."
    )
    max_delta: Optional[float] = Field(
        None, description="Counterfactual check: largest probability change over variants (null when off)."
    )


class DocOut(BaseModel):
    text: str
    tokens: Optional[list[TokenOut]] = None
    entities: list[EntityOut]
    cats: dict[str, float]
    bias: Optional[BiasOut] = None


class AnalyzeResponse(BaseModel):
    model: str = Field(..., description="lang_name-version of the pipeline that answered.")
    docs: list[DocOut]


class HealthResponse(BaseModel):
    status: str
    model: str
    pipeline: list[str]
    batching: bool
    queued: int = Field(..., description="Requests waiting for the model now.")


class ErrorResponse(BaseModel):
    detail: str
