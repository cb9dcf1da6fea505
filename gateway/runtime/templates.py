"""Configured answers with {placeholders} (a simulator's scripted answers, a webhook's answer to a
partner): every string in a nested template is filled from the values."""

from typing import Any


def filled(template: Any, values: dict[str, Any]) -> Any:
    """The template with {placeholders} filled; a string that is only a placeholder keeps its value's type."""
    if isinstance(template, dict):
        return {key: filled(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [filled(item, values) for item in template]
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        return template.format_map(values)
    return template
