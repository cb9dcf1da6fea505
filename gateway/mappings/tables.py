"""Code tables: a partner's codes for the gateway's values (canonical status -> TrangThaiHoSo).

A table is a CSV file with a header row (first column: the gateway's value, second: the
partner's) or a YAML mapping. Keys are compared as text, so 1 and "1" are the same key.
"""

import csv
from pathlib import Path
from typing import Any

import yaml


class TableError(ValueError):
    pass


class CodeTable:
    def __init__(self, name: str, path: Path, entries: dict[str, Any]) -> None:
        self.name = name
        self.path = path
        self.entries = entries

    def lookup(self, value: Any) -> Any:
        """The partner's code; KeyError when the table has none for `value`."""
        return self.entries[_key(value)]

    @classmethod
    def load(cls, name: str, path: Path) -> "CodeTable":
        if not path.is_file():
            raise TableError(f"table '{name}': file {path} does not exist")
        if path.suffix.lower() == ".csv":
            return cls(name, path, _read_csv(path))
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TableError(f"table '{name}': {path} must hold a mapping of code: value")
            return cls(name, path, {_key(key): value for key, value in data.items()})
        raise TableError(f"table '{name}': {path} is neither .csv nor .yaml")


def _read_csv(path: Path) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8") as file:
        rows = [row for row in csv.reader(file) if row and not row[0].startswith("#")]
    if len(rows) < 2 or any(len(row) < 2 for row in rows):
        raise TableError(f"{path}: needs a header row and rows of at least two columns (gateway value, partner code)")
    entries: dict[str, Any] = {}
    for number, row in enumerate(rows[1:], start=2):
        key = _key(row[0].strip())
        if key in entries:
            raise TableError(f"{path}: row {number}: '{key}' appears twice")
        entries[key] = row[1].strip()
    return entries


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
