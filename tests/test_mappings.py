"""The mapping engine on its own: no Kafka, no partner."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.mappings.errors import MappingFailure, OutputInvalid, SpecProblems
from gateway.mappings.spec import SHIPPED_SPECS, load_spec
from gateway.mappings import spec_tests

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False, "required": ["Code"],
    "properties": {"Code": {"type": "string", "maxLength": 10}, "When": {"type": "string"}, "Kind": {"type": "string"},
                   "Note": {"type": "string"}, "Items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
    "$defs": {"item": {"type": "object", "properties": {"Name": {"type": "string"}, "Price": {"type": "integer"}}}},
}


def write_spec(folder: Path, body: str) -> Path:
    (folder / "target.schema.json").write_text(json.dumps(SCHEMA))
    (folder / "kinds.yaml").write_text("a: Alpha\nb: Beta\n")
    path = folder / "sample.mapping.yaml"
    path.write_text("target_schema: target.schema.json\ntables:\n  kinds: kinds.yaml\n" + body)
    return path


def test_transforms_tables_conditions_and_lists(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, """fields:
  Code: {from: code, transforms: [upper, {truncate: {length: 10, marker: "~"}}]}
  When: {from: at, transforms: [{datetime: {format: "dd/MM/yyyy HH:mm:ss.SSS", timezone: Asia/Ho_Chi_Minh}}]}
  Kind: {from: kind, transforms: [{table: {name: kinds, default: Other}}]}
  Note:
    when: vip
    from: "[first, last]"
    transforms: [{join: " "}]
    otherwise: ordinary
  Items:
    each: items
    fields:
      Name: name
      Price: {from: price, transforms: [integer]}
"""))
    data = {"code": "abcdefghijklmn", "at": "2026-12-31T17:30:00.250Z", "kind": "zzz", "vip": True,
            "first": "Lan", "last": None, "items": [{"name": "a", "price": "12"}, {"price": 3}]}
    assert spec.map(data) == {"Code": "ABCDEFGHI~", "When": "01/01/2027 00:30:00.250", "Kind": "Other",
                              "Note": "Lan", "Items": [{"Name": "a", "Price": 12}, {"Price": 3}]}
    assert spec.map({"code": "x", "vip": False})["Note"] == "ordinary"
    assert "When" not in spec.map({"code": "x"})  # nulls are left out


def test_conditions_follow_jmespath_truth_and_schemas_are_judged_by_their_draft(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"Fee": {"type": "string"}, "Code": {"$ref": "#/$defs/code", "maxLength": 3}},
        "$defs": {"code": {"type": "string"}}}))
    path = tmp_path / "c.mapping.yaml"
    path.write_text("target_schema: s.json\nfields:\n  Fee: {when: amount, value: charged, otherwise: free}\n  Code: code\n")
    spec = load_spec(path)
    assert spec.map({"amount": 0})["Fee"] == "charged"  # 0 is true in JMESPath
    assert spec.map({"amount": None})["Fee"] == "free"
    with pytest.raises(OutputInvalid, match="too long"):  # 2020-12 applies maxLength beside $ref
        spec.map({"code": "ABCDEF"})


def test_a_broken_spec_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_spec(tmp_path, """fields:
  Code: code
  Kind: {from: kind, transforms: [{table: colours}]}
  When: {from: "at[[", transforms: [shout]}
  Colour: colour
  Note: {from: note, transforms: [{truncate: 0}]}
""")
    with pytest.raises(SpecProblems) as raised:
        load_spec(path)
    problems: dict[tuple[int, str], str] = {}
    for problem in raised.value.problems:
        problems[(problem.line, problem.field)] = problems.get((problem.line, problem.field), "") + problem.message
    assert "unknown table 'colours'" in problems[(6, "Kind")]
    assert "bad expression" in problems[(7, "When")] and "unknown transform 'shout'" in problems[(7, "When")]
    assert "is not in the target schema" in problems[(8, "Colour")]
    assert "truncate" in problems[(9, "Note")]
    assert all(problem.path == str(path) for problem in raised.value.problems)
    assert str(raised.value.problems[0]).startswith(f"{path}:")


def test_output_is_validated_and_bad_values_name_the_field(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "fields:\n  Code: code\n  Kind: {from: kind, transforms: [{table: kinds}]}\n"))
    with pytest.raises(OutputInvalid, match="Code: 'much too long a code' is too long"):
        spec.map({"code": "much too long a code"})
    with pytest.raises(OutputInvalid, match="'Code' is a required property"):
        spec.map({})
    with pytest.raises(MappingFailure, match="field Kind: 'c' is not in table 'kinds'"):
        spec.map({"code": "x", "kind": "c"})


def test_spec_tests_show_a_readable_diff(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "fields:\n  Code: code\n  Kind: {from: kind, transforms: [{table: kinds}]}\n"))
    tests = tmp_path / "sample.tests.yaml"
    tests.write_text("""cases:
  - name: right
    input: {code: X1, kind: a}
    expected: {Code: X1, Kind: Alpha}
  - name: wrong
    input: {code: X1, kind: b}
    expected: {Code: X1, Kind: Alpha}
  - name: an expected error
    input: {code: X1, kind: q}
    error: "not in table 'kinds'"
""")
    results = spec_tests.run_spec_tests(spec, tests)
    assert [result.passed for result in results] == [True, False, True]
    assert '-  "Kind": "Alpha"' in results[1].detail and '+  "Kind": "Beta"' in results[1].detail
    assert results[1].line == 5


def test_shipped_specs_pass_their_own_tests() -> None:
    for path in sorted(SHIPPED_SPECS.rglob("*.mapping.yaml")):
        results = spec_tests.run_spec_tests(load_spec(path), spec_tests.tests_file_for(path))
        assert results and all(result.passed for result in results), [r for r in results if not r.passed]


def test_cli_lint_test_and_run(tmp_path: Path) -> None:
    def gateway(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway", "mapping", *args], capture_output=True, text=True)

    tested = gateway("test")
    assert tested.returncode == 0 and " 0 failed" in tested.stdout, tested.stderr
    broken = tmp_path / "broken.mapping.yaml"
    broken.write_text("target_schema: nothing.json\nfields:\n  A: 'x[['\n")
    linted = gateway("lint", str(broken))
    assert linted.returncode == 1 and f"{broken}:3: field A: bad expression" in linted.stderr
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"status_change": {"dossier_code": "H12-1", "sequence": 1, "status": 2,
                                                  "changed_at": "2026-11-23T08:00:00+07:00"}}))
    ran = gateway("run", str(SHIPPED_SPECS / "national_portal" / "progress.mapping.yaml"), "--input", str(data))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["ThoiDiemXuLy"] == "20261123080000"
