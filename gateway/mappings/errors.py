"""What can go wrong with a mapping, as values that name where."""

from pathlib import Path


class SpecError(ValueError):
    """A spec that cannot be used: raised when it is loaded, naming the file, the line and the field."""

    def __init__(self, path: Path | str, line: int, field: str | None, message: str) -> None:
        where = f"{path}:{line}" + (f": field {field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message


class SpecProblems(ValueError):
    """Every problem found in one spec (a reader fixes them all in one go)."""

    def __init__(self, problems: list[SpecError]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class MappingFailure(ValueError):
    """This input cannot be mapped (a value missing from a code table, a date that is not one).
    A ValueError: trying again will not help, so the message goes to the dead letters."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field}: {message}")
        self.field = field


class OutputInvalid(MappingFailure):
    """The mapped output does not satisfy the partner's schema; it is not sent."""

    def __init__(self, spec: str, problems: list[str]) -> None:
        ValueError.__init__(self, f"{spec}: output does not match the partner's schema: " + "; ".join(problems))
        self.field = problems[0].split(":", 1)[0] if problems else ""
        self.problems = problems
