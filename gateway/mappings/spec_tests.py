"""Spec tests: sample inputs and the output each must map to, in a file beside the spec
(`NAME.tests.yaml` beside `NAME.mapping.yaml`), in the spirit of Redpanda Connect's config tests.

    cases:
      - name: a citizen's online birth registration
        input: {dossier: {...}}          # or input_file: samples/birth.json (beside the tests)
        expected: {MaHoSo: ..., ...}     # the whole output, validated against the target schema
      - name: a channel DVCQG does not know
        input: {...}
        error: "not in table 'channel'"  # or: the mapping must fail with this text
"""

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.mappings.errors import MappingFailure, SpecError, SpecProblems
from gateway.mappings.located_yaml import LocatedDict, YamlSyntaxError, load_located
from gateway.mappings.spec import SPEC_SUFFIX, MappingSpec

TESTS_SUFFIX = ".tests.yaml"


@dataclass(frozen=True)
class CaseResult:
    name: str
    line: int
    passed: bool
    detail: str = ""  # a diff or the error, when it failed


def tests_file_for(spec_path: Path) -> Path:
    return spec_path.with_name(spec_path.name.removesuffix(SPEC_SUFFIX) + TESTS_SUFFIX)


def run_spec_tests(spec: MappingSpec, tests_path: Path) -> list[CaseResult]:
    """Run every case of `tests_path` against `spec`. Raises SpecProblems when the file itself is wrong."""
    try:
        document = load_located(tests_path)
    except YamlSyntaxError as error:
        raise SpecProblems([SpecError(tests_path, error.line, None, str(error).split(": ", 1)[1])]) from None
    cases = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(cases, list) or not cases:
        raise SpecProblems([SpecError(tests_path, 1, None, "a tests file holds a non-empty list under 'cases'")])
    return [_run_case(spec, tests_path, number, case) for number, case in enumerate(cases, start=1)]


def _run_case(spec: MappingSpec, tests_path: Path, number: int, case: Any) -> CaseResult:
    line = case.start_line if isinstance(case, LocatedDict) else 0
    if not isinstance(case, dict):
        return CaseResult(f"case {number}", line, False, "a case is a mapping with name, input and expected (or error)")
    name = str(case.get("name") or f"case {number}")
    try:
        data = _input_of(case, tests_path)
    except (OSError, ValueError) as error:
        return CaseResult(name, line, False, f"cannot read the input: {error}")
    if ("expected" in case) == ("error" in case):
        return CaseResult(name, line, False, "a case needs either 'expected' (the output) or 'error' (text of the failure)")
    try:
        output = spec.map(data)
    except MappingFailure as failure:
        if "error" in case and str(case["error"]) in str(failure):
            return CaseResult(name, line, True)
        expected = f"an error containing {case['error']!r}" if "error" in case else "an output"
        return CaseResult(name, line, False, f"expected {expected}, the mapping failed: {failure}")
    if "error" in case:
        return CaseResult(name, line, False, f"expected an error containing {case['error']!r}, got:\n{_pretty(output)}")
    expected_output = _plain(case["expected"])
    if output == expected_output:
        return CaseResult(name, line, True)
    return CaseResult(name, line, False, readable_diff(expected_output, output))


def _input_of(case: dict, tests_path: Path) -> Any:
    if "input_file" in case:
        return json.loads((tests_path.parent / str(case["input_file"])).read_text(encoding="utf-8"))
    if "input" not in case:
        raise ValueError("a case needs 'input' or 'input_file'")
    return _plain(case["input"])


def _plain(value: Any) -> Any:
    """YAML's LocatedDicts and dates as the JSON a partner would see."""
    return json.loads(json.dumps(value, default=str))


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def readable_diff(expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(_pretty(expected).splitlines(), _pretty(actual).splitlines(),
                                 fromfile="expected", tofile="actual", lineterm="", n=2)
    return "\n".join(lines)
