"""Mapping specs: YAML files that say how to build a partner's record from the gateway's data.

    name: national_portal.dossier
    description: canonical dossier -> DongBoHoSoMC record
    target_schema: dossier.schema.json      # JSON Schema of the partner's record, beside the spec
    tables:                                 # code tables, beside the spec
      status: tables/status.csv
    fields:
      MaHoSo: dossier.code                  # a JMESPath expression over the input
      TrichYeuHoSo:
        from: dossier.summary
        transforms: [{truncate: 1000}]      # named transforms, applied in order
      TrangThaiHoSo: {from: dossier.status, transforms: [{table: status}]}
      KenhThucHien: {value: "2"}            # a constant
      NgayTra:
        when: "dossier.status >= `9`"       # only when the condition holds ...
        from: dossier.returned_at
        otherwise: ""                       # ... else this (or no field at all)
      TaiLieuNop:                           # a list of objects: `fields` read each item
        each: dossier.documents
        fields: {TenTepDinhKem: name}
      NguoiNop:                             # a nested object (left out when all its fields are null)
        fields: {HoTen: dossier.applicant.full_name}
      GhiChu: {from: dossier.note, default: "-"}   # when the value is null or empty

A field whose value is null is left out of the output (`keep_nulls: true` keeps it).
`target_schema` is a path beside the spec, or one the gateway ships (ministry/status-report.schema.json). Every
problem found on loading names the file, the line and the field; loading checks expressions,
transforms, tables and that every field exists in the target schema.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import jmespath
import jsonschema
from jmespath.exceptions import JMESPathError

from gateway.mappings import transforms
from gateway.mappings.errors import MappingFailure, OutputInvalid, SpecError, SpecProblems
from gateway.mappings.located_yaml import LocatedDict, YamlSyntaxError, load_located
from gateway.mappings.tables import CodeTable, TableError

SPEC_SUFFIX = ".mapping.yaml"
SHIPPED_SPECS = Path(__file__).resolve().parent / "specs"

_OMIT = object()
_TOP_KEYS = {"name", "description", "target_schema", "tables", "fields", "keep_nulls"}
_FIELD_KEYS = {"from", "value", "each", "fields", "transforms", "when", "otherwise", "default"}

FieldBuilder = Callable[[Any], Any]


@dataclass(frozen=True)
class MappingSpec:
    """A loaded, checked spec: `map(data)` builds the partner's record and validates it."""

    name: str
    path: Path
    description: str
    fields: tuple[tuple[str, FieldBuilder], ...]
    keep_nulls: bool
    schema: dict[str, Any] | None
    validator: jsonschema.protocols.Validator | None
    quick_check: Callable[[Any], Any] | None = None  # compiled check; the validator explains failures

    def map(self, data: Any) -> dict[str, Any]:
        output = self.apply(data)
        self.validate(output)
        return output

    def apply(self, data: Any) -> dict[str, Any]:
        """The output without the schema check (for `gateway mapping run --no-validate` and tests)."""
        return _build_object(self.fields, data, self.keep_nulls)

    def validate(self, output: dict[str, Any]) -> None:
        if self.validator is None:
            return
        if self.quick_check is not None:
            try:
                self.quick_check(output)
                return
            except fastjsonschema.JsonSchemaException:
                pass  # the full validator below names every problem
        problems = sorted(
            f"{'/'.join(str(part) for part in error.absolute_path) or '(record)'}: {error.message}"
            for error in self.validator.iter_errors(output)
        )
        if problems:
            raise OutputInvalid(self.name, problems)


def load_spec(path: Path | str) -> MappingSpec:
    """Load and check a spec; raises SpecProblems listing every problem with file, line and field."""
    path = Path(path)
    try:
        document = load_located(path)
    except FileNotFoundError:
        raise SpecProblems([SpecError(path, 0, None, "no such file")]) from None
    except YamlSyntaxError as error:
        raise SpecProblems([SpecError(path, error.line, None, str(error).split(": ", 1)[1])]) from None
    loader = _Loader(path)
    spec = loader.spec(document)
    if loader.problems:
        raise SpecProblems(loader.problems)
    return spec


def spec_files(paths: list[Path]) -> list[Path]:
    """The spec files named by `paths` (files, or folders searched recursively); all shipped ones when empty."""
    found: list[Path] = []
    for path in paths or [SHIPPED_SPECS]:
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{SPEC_SUFFIX}")))
        else:
            found.append(path)
    return found


def resolve_spec_folder(name_or_path: str) -> Path:
    """A shipped spec folder by name (national_portal) or any folder by path."""
    shipped = SHIPPED_SPECS / name_or_path
    return shipped if shipped.is_dir() else Path(name_or_path)


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[SpecError] = []
        self.tables: dict[str, CodeTable] = {}
        self._root: dict[str, Any] | None = None  # the target schema, for local $refs
        self.keep_nulls = False

    def problem(self, line: int, field: str | None, message: str) -> None:
        self.problems.append(SpecError(self.path, line, field, message))

    def spec(self, document: Any) -> MappingSpec:
        if not isinstance(document, LocatedDict):
            self.problem(1, None, "a spec is a mapping with name, target_schema, tables and fields")
            document = LocatedDict()
        for key in set(document) - _TOP_KEYS:
            self.problem(document.line_of(key), None, f"unknown key '{key}' (allowed: {', '.join(sorted(_TOP_KEYS))})")
        name = str(document.get("name") or self.path.name.removesuffix(SPEC_SUFFIX))
        self.keep_nulls = bool(document.get("keep_nulls", False))
        schema = self._root = self._schema(document)
        self._tables(document)
        fields_node = document.get("fields")
        if not isinstance(fields_node, LocatedDict) or not fields_node:
            self.problem(document.line_of("fields"), None, "'fields' must map target fields to how they are built")
            fields_node = LocatedDict()
        fields = self._object(fields_node, schema, prefix="")
        validator = None
        if schema is not None:
            validator_class = jsonschema.validators.validator_for(schema)
            validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
        return MappingSpec(name=name, path=self.path, description=str(document.get("description") or ""),
                           fields=fields, keep_nulls=self.keep_nulls,
                           schema=schema, validator=validator, quick_check=_quick_check(schema))

    def _schema(self, document: LocatedDict) -> dict[str, Any] | None:
        reference = document.get("target_schema")
        if reference is None:
            return None
        schema_path = self.path.parent / str(reference)
        if not schema_path.exists() and (SHIPPED_SPECS / str(reference)).exists():
            schema_path = SHIPPED_SPECS / str(reference)  # a shared schema the gateway ships (ministry/...)
        line = document.line_of("target_schema")
        try:
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except FileNotFoundError:
            self.problem(line, None, f"target_schema {schema_path} does not exist")
            return None
        except (ValueError, jsonschema.SchemaError) as error:
            self.problem(line, None, f"target_schema {schema_path} is not a JSON Schema: {str(error).splitlines()[0]}")
            return None
        return schema

    def _tables(self, document: LocatedDict) -> None:
        declared = document.get("tables") or {}
        if not isinstance(declared, dict):
            self.problem(document.line_of("tables"), None, "'tables' must map table names to CSV or YAML files")
            return
        for table_name, file in declared.items():
            try:
                self.tables[str(table_name)] = CodeTable.load(str(table_name), self.path.parent / str(file))
            except TableError as error:
                self.problem(declared.line_of(table_name), None, str(error))

    def _object(self, node: LocatedDict, schema: dict[str, Any] | None, prefix: str) -> tuple[tuple[str, FieldBuilder], ...]:
        properties = _properties(schema, self._root_schema()) if schema is not None else None
        built = []
        for target, field_node in node.items():
            field = f"{prefix}{target}"
            line = node.line_of(target)
            if properties is not None and target not in properties:
                self.problem(line, field, f"is not in the target schema (it has {', '.join(sorted(properties))})")
                continue
            child_schema = properties.get(target) if properties is not None else None
            builder = self._field(field, line, field_node, child_schema)
            if builder is not None:
                built.append((str(target), builder))
        if properties is not None:
            required = set((_resolved(schema, self._root_schema()) or {}).get("required", ()))
            for missing in sorted(required - set(node)):
                self.problem(node.start_line, f"{prefix}{missing}", "is required by the target schema but never mapped")
        return tuple(built)

    def _root_schema(self) -> dict[str, Any] | None:
        return self._root

    def _field(self, field: str, line: int, node: Any, schema: dict[str, Any] | None) -> FieldBuilder | None:
        if isinstance(node, str):
            node = LocatedDict({"from": node}, start_line=line)
        if not isinstance(node, LocatedDict):
            self.problem(line, field, "must be an expression or a mapping with from/value/each")
            return None
        for key in set(node) - _FIELD_KEYS:
            self.problem(node.line_of(key), field, f"unknown key '{key}' (allowed: {', '.join(sorted(_FIELD_KEYS))})")
        sources = [key for key in ("from", "value", "each") if key in node]
        if not sources and "fields" in node:
            sources = ["fields"]  # a nested object read from the same input
        if len(sources) != 1:
            self.problem(line, field, "needs exactly one of from (an expression), value (a constant), each (a list) "
                                      "or fields (a nested object)")
            return None
        if "fields" in node and sources[0] not in ("each", "fields"):
            self.problem(node.line_of("fields"), field, "'fields' goes with 'each' or alone (a nested object)")
        produce = self._source(field, node, sources[0], schema)
        chain = self._transforms(field, node)
        when = self._expression(field, node.line_of("when"), node["when"]) if "when" in node else None
        otherwise = node.get("otherwise", _OMIT)
        default = node.get("default")
        if produce is None:
            return None
        return _field_builder(field, produce, chain, when, otherwise, default)

    def _source(self, field: str, node: LocatedDict, kind: str, schema: dict[str, Any] | None) -> FieldBuilder | None:
        if kind == "value":
            constant = node["value"]
            return lambda data: constant
        if kind == "fields":
            return self._nested(field, node, schema)
        expression = self._expression(field, node.line_of(kind), node[kind])
        if expression is None:
            return None
        if kind == "from":
            return _plain_path(expression) or expression.search
        items_node = node.get("fields")
        if not isinstance(items_node, LocatedDict) or not items_node:
            self.problem(node.line_of("each"), field, "'each' needs 'fields' saying how to build each item")
            return None
        item_schema = None
        if schema is not None:
            resolved = _resolved(schema, self._root_schema()) or {}
            item_schema = resolved.get("items")
            if item_schema is None:
                self.problem(node.line_of("each"), field, "the target schema does not describe it as a list (no 'items')")
        item_fields = self._object(items_node, item_schema, prefix=f"{field}[].")
        keep_nulls = self.keep_nulls

        def each(data: Any) -> Any:
            items = expression.search(data)
            if items is None:
                return None
            if not isinstance(items, list):
                raise MappingFailure(field, f"'each' expects a list, the input has {type(items).__name__}")
            return [_build_object(item_fields, item, keep_nulls) for item in items]

        return each

    def _nested(self, field: str, node: LocatedDict, schema: dict[str, Any] | None) -> FieldBuilder | None:
        """An object built from the same input; left out when none of its fields has a value."""
        fields_node = node["fields"]
        if not isinstance(fields_node, LocatedDict) or not fields_node:
            self.problem(node.line_of("fields"), field, "'fields' must map the nested object's fields")
            return None
        nested_fields = self._object(fields_node, schema, prefix=f"{field}.")
        keep_nulls = self.keep_nulls

        def nested(data: Any) -> Any:
            built = _build_object(nested_fields, data, keep_nulls)
            return built if any(value is not None for value in built.values()) else None

        return nested

    def _expression(self, field: str, line: int, text: Any) -> Any:
        if not isinstance(text, str) or not text.strip():
            self.problem(line, field, f"expression must be text, got {text!r}")
            return None
        try:
            return jmespath.compile(text)
        except JMESPathError as error:
            self.problem(line, field, f"bad expression {text!r}: {str(error).splitlines()[0]}")
            return None

    def _transforms(self, field: str, node: LocatedDict) -> list[transforms.Transform]:
        declared = node.get("transforms") or []
        if not isinstance(declared, list):
            self.problem(node.line_of("transforms"), field, "'transforms' must be a list")
            return []
        chain = []
        for entry in declared:
            line = entry.start_line if isinstance(entry, LocatedDict) else node.line_of("transforms")
            if isinstance(entry, str):
                name, argument = entry, None
            elif isinstance(entry, dict) and len(entry) == 1:
                name, argument = next(iter(entry.items()))
            else:
                self.problem(line, field, f"a transform is a name or a one-key mapping, got {entry!r}")
                continue
            try:
                chain.append(transforms.build(str(name), argument, self.tables))
            except transforms.TransformArgumentError as error:
                self.problem(line, field, str(error))
        return chain


def _field_builder(field: str, produce: FieldBuilder, chain: list[transforms.Transform], when: Any,
                   otherwise: Any, default: Any) -> FieldBuilder:
    def build(data: Any) -> Any:
        if when is not None and _jmespath_false(when.search(data)):
            return otherwise
        value = produce(data)
        try:
            for transform in chain:
                value = transform(value)
        except transforms.ValueNotMappable as error:
            raise MappingFailure(field, str(error)) from None
        if default is not None and value in (None, ""):
            return default
        return value

    return build


def _jmespath_false(value: Any) -> bool:
    """JMESPath's falsehood (0 is true there, unlike in Python)."""
    return value is None or value is False or value in ("", [], {})


def _build_object(fields: tuple[tuple[str, FieldBuilder], ...], data: Any, keep_nulls: bool) -> dict[str, Any]:
    output = {}
    for name, build in fields:
        value = build(data)
        if value is _OMIT or (value is None and not keep_nulls):
            continue
        output[name] = value
    return output


# Keywords fastjsonschema (drafts 4-7) does not know: a schema using them is checked by jsonschema alone.
_NEWER_KEYWORDS = {"prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentSchemas",
                   "dependentRequired", "$dynamicRef", "$dynamicAnchor", "$anchor", "$recursiveRef",
                   "minContains", "maxContains"}


def _quick_check(schema: dict[str, Any] | None) -> Callable[[Any], Any] | None:
    """A compiled validator: checking every record is the costliest step of a mapping, and a
    compiled check is several times faster. jsonschema stays the judge of what fails and why."""
    if schema is None or _NEWER_KEYWORDS & set(_keywords(schema)) or _ref_with_siblings(schema):
        return None
    try:
        return fastjsonschema.compile({key: value for key, value in schema.items() if key != "$schema"})
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError):
        return None


def _ref_with_siblings(schema: Any) -> bool:
    """Drafts before 2019-09 ignore keywords beside a $ref; newer ones apply them."""
    if isinstance(schema, dict):
        if "$ref" in schema and set(schema) - {"$ref", "description", "title", "$comment"}:
            return True
        return any(_ref_with_siblings(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_ref_with_siblings(item) for item in schema)
    return False


def _keywords(schema: Any):
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            yield from _keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _keywords(item)


def _plain_path(expression: Any) -> FieldBuilder | None:
    """`a.b.c` read with dict lookups: most fields are plain paths, and JMESPath's interpreter
    costs several times more for the same answer (null where a step is missing or not an object)."""
    keys = _field_names(expression.parsed)
    if keys is None:
        return None

    def read(data: Any) -> Any:
        for key in keys:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
        return data

    return read


def _field_names(node: dict[str, Any]) -> list[str] | None:
    if node["type"] == "field":
        return [node["value"]]
    if node["type"] != "subexpression":
        return None
    names: list[str] = []
    for child in node["children"]:
        child_names = _field_names(child)
        if child_names is None:
            return None
        names.extend(child_names)
    return names


def _resolved(schema: dict[str, Any] | None, root: dict[str, Any] | None) -> dict[str, Any] | None:
    """Follow a local $ref (#/$defs/x) so nested objects can be checked too."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        reference = schema["$ref"]
        if not reference.startswith("#/") or root is None:
            return None
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema, seen = target, seen + 1
    return schema


def _properties(schema: dict[str, Any] | None, root: dict[str, Any] | None) -> dict[str, Any] | None:
    resolved = _resolved(schema, root)
    if not isinstance(resolved, dict) or "properties" not in resolved:
        return None  # a schema that does not list its properties cannot be checked against
    return resolved["properties"]
