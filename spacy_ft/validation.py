"""The one "value must be one of" check, so every setting fails the same way.

A leaf module. Messages read ``[component] unknown <what> 'value': choose one of
a, b, c``: they name the component, the setting and the bad value, as spaCy's
``Errors.E...`` texts do.
"""

from typing import Any, Iterable, TypeVar

T = TypeVar("T")


def check_choice(value: T, allowed: Iterable[Any], what: str, *, component: str = "", lower: bool = False) -> T:
    """Return ``value`` (lower-cased when ``lower``) if it is allowed, else raise ValueError."""
    choices = tuple(allowed)
    key = value.lower() if lower and isinstance(value, str) else value
    if key not in choices:
        prefix = f"[{component}] " if component else ""
        raise ValueError(f"{prefix}unknown {what} {value!r}: choose one of {', '.join(map(str, choices))}")
    return key  # type: ignore[return-value]  # lower-casing keeps a str a str
