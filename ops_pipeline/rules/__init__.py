"""Business rules as small pure functions. Each one is pinned by a behave scenario in features/.

A parser returns the parsed value or raises :class:`RuleViolation` with the finding code and a
message; it never returns None for a value it did not understand.
"""


class RuleViolation(ValueError):
    """A cell value breaks a rule. ``code`` is the stable finding code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
