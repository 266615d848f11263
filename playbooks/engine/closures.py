"""Moved to the shared pure package ``conditions.closures`` (identity's role rules use the same language); kept so
that existing imports go on working."""

from conditions.closures import Closure, NotComparable, Unsupported, compile_closure, shown

__all__ = ["Closure", "NotComparable", "Unsupported", "compile_closure", "shown"]
