"""The condition language, shared by playbooks and identity (role rules): pure Python, no Django, no app imports.

A vocabulary names what a condition may read; ``compile_condition`` checks an expression against it when it is saved
(a ``ConditionError`` with the column and a caret) and compiles it into a ``Condition`` whose ``evaluate`` never
raises. Each app keeps its own vocabulary: playbooks in ``playbooks/engine/conditions.py``, role rules in
``identity/mapping.py``.
"""

from conditions.compiler import (
    MAX_LENGTH,
    MAX_NESTING,
    MAX_OPERATORS,
    NUMBER,
    Condition,
    ConditionError,
    Vocabulary,
    check_text,
    compile_condition,
    did_you_mean,
    known_names,
    referenced_keys,
    root_names,
)

__all__ = [
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_OPERATORS",
    "NUMBER",
    "Condition",
    "ConditionError",
    "Vocabulary",
    "check_text",
    "compile_condition",
    "did_you_mean",
    "known_names",
    "referenced_keys",
    "root_names",
]
