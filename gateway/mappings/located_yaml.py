"""YAML that remembers where each key was written, so a spec's errors can name the line."""

from pathlib import Path
from typing import Any

import yaml


class LocatedDict(dict):
    """A YAML mapping; `line_of(key)` is the 1-based line its key is on."""

    def __init__(self, *args: Any, start_line: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_line = start_line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.start_line)


class _LocatingLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocatedDict:
        located = LocatedDict(super().construct_mapping(node, deep=True), start_line=node.start_mark.line + 1)
        for key_node, _ in node.value:
            located.key_lines[self.construct_object(key_node, deep=True)] = key_node.start_mark.line + 1
        return located


_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LocatingLoader.construct_mapping)


class YamlSyntaxError(ValueError):
    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


def load_located(path: Path) -> Any:
    """Parse a YAML file; mappings come back as LocatedDict."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LocatingLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlSyntaxError(path, (mark.line + 1) if mark else 0, f"not valid YAML: {error.problem or error}") from None
