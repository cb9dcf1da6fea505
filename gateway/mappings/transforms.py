"""Named transforms a spec may apply to a value, in order. Each is built once when the spec is
loaded (its arguments checked then) and applied to every record.

In a spec, a transform is its name (`upper`) or a one-key mapping with its argument
(`truncate: 1000`, `datetime: {format: yyyyMMddHHmmss}`). A null value passes through every
transform unchanged, except `default` (which replaces it) and `join` (which skips nulls).
"""

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.mappings.tables import CodeTable

Transform = Callable[[Any], Any]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_DATETIME_FORMAT = "yyyyMMddHHmmss"


class TransformArgumentError(ValueError):
    """The transform's arguments are wrong; the spec loader adds the file, line and field."""


class ValueNotMappable(ValueError):
    """This record's value cannot be transformed; the engine adds the field."""


def build(name: str, argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    factory = TRANSFORMS.get(name)
    if factory is None:
        raise TransformArgumentError(f"unknown transform '{name}' (known: {', '.join(sorted(TRANSFORMS))})")
    return factory(argument, tables)


def _no_argument(name: str, function: Callable[[Any], Any]) -> Callable[[Any, Mapping[str, CodeTable]], Transform]:
    def factory(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
        if argument is not None:
            raise TransformArgumentError(f"transform '{name}' takes no argument")
        return lambda value: None if value is None else function(value)

    return factory


def _options(name: str, argument: Any, shorthand: str, allowed: dict[str, Any]) -> dict[str, Any]:
    """A transform's argument: a scalar (its `shorthand` option) or a mapping of options."""
    options = dict(allowed)
    if isinstance(argument, Mapping):
        unknown = set(argument) - set(allowed)
        if unknown:
            raise TransformArgumentError(f"transform '{name}' has no option {', '.join(sorted(map(str, unknown)))} "
                                         f"(options: {', '.join(allowed)})")
        options.update(argument)
    elif argument is not None:
        options[shorthand] = argument
    return options


# -- date and time ---------------------------------------------------------------------------

_PATTERN_TOKENS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_TOKEN = re.compile(r"yyyy|yy|MM|dd|HH|mm|ss|SSS|[A-Za-z]|[^A-Za-z]+")


def strftime_of(pattern: str) -> str:
    """A Java-style pattern (yyyyMMddHHmmss, dd/MM/yyyy HH:mm:ss.SSS) as a strftime format."""
    parts = []
    for token in _TOKEN.findall(pattern):
        if token in _PATTERN_TOKENS:
            parts.append(_PATTERN_TOKENS[token])
        elif token == "SSS":
            parts.append("{millis}")
        elif token.isalpha():
            raise TransformArgumentError(f"datetime pattern '{pattern}': unknown letter '{token}' "
                                         f"(use yyyy, yy, MM, dd, HH, mm, ss, SSS)")
        else:
            parts.append(token.replace("%", "%%").replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TransformArgumentError(f"unknown time zone '{name}'") from None


def _datetime(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    options = _options("datetime", argument, "format", {"format": DEFAULT_DATETIME_FORMAT, "timezone": DEFAULT_TIMEZONE})
    layout = strftime_of(str(options["format"]))
    zone = _zone(str(options["timezone"]))
    with_millis = "{millis}" in layout

    def transform(value: Any) -> Any:
        if value is None:
            return None
        moment = _as_datetime(value)
        # A time without a zone is taken to be local time of the target zone.
        moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
        text = moment.strftime(layout)
        return text.format(millis=f"{moment.microsecond // 1000:03d}") if with_millis else text

    return transform


def _read_datetime(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    """The reverse of `datetime`: a partner's time text (yyyyMMddHHmmss) as ISO 8601 with its zone."""
    options = _options("read_datetime", argument, "format", {"format": DEFAULT_DATETIME_FORMAT,
                                                              "timezone": DEFAULT_TIMEZONE})
    pattern, timezone = str(options["format"]), str(options["timezone"])
    if "{millis}" in strftime_of(pattern):
        raise TransformArgumentError("read_datetime does not read milliseconds (SSS)")
    _zone(timezone)
    return lambda value: None if value is None else parse_local_datetime(str(value), pattern, timezone).isoformat()


def parse_local_datetime(text: str, pattern: str, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Text in a Java-style pattern (dd/MM/yyyy HH:mm:ss) as an aware datetime; a time without a
    zone is local time of `timezone`. Raises ValueNotMappable."""
    try:
        moment = datetime.strptime(text.strip(), strftime_of(pattern))
    except ValueError:
        raise ValueNotMappable(f"{text!r} is not a time in the pattern {pattern}") from None
    return moment.replace(tzinfo=_zone(timezone))


def aware_datetime(value: Any, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """A date, time or ISO text as an aware datetime; without a zone it is local time of `timezone`
    (partners in Vietnam write local time). Raises ValueNotMappable."""
    moment = _as_datetime(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_zone(timezone))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueNotMappable(f"{value!r} is not an ISO 8601 date or time")


# -- code tables -------------------------------------------------------------------------------

def _table(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    missing = object()
    options = _options("table", argument, "name", {"name": None, "default": missing})
    name = options["name"]
    if not name:
        raise TransformArgumentError("transform 'table' needs the table's name (table: status)")
    table = tables.get(str(name))
    if table is None:
        raise TransformArgumentError(f"unknown table '{name}' (declared tables: {', '.join(sorted(tables)) or 'none'})")
    default = options["default"]

    def transform(value: Any) -> Any:
        if value is None:
            return None
        try:
            return table.lookup(value)
        except KeyError:
            if default is not missing:
                return default
            raise ValueNotMappable(f"{value!r} is not in table '{table.name}' ({table.path.name})") from None

    return transform


# -- text --------------------------------------------------------------------------------------

def _truncate(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    options = _options("truncate", argument, "length", {"length": None, "marker": "…"})
    length, marker = options["length"], str(options["marker"])
    if not isinstance(length, int) or isinstance(length, bool) or length <= len(marker):
        raise TransformArgumentError(f"transform 'truncate' needs a length longer than its marker, got {length!r}")

    def transform(value: Any) -> Any:
        if value is None:
            return None
        text = str(value)
        return text if len(text) <= length else text[: length - len(marker)] + marker

    return transform


def _join(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    options = _options("join", argument, "separator", {"separator": ", "})
    separator = str(options["separator"])

    def transform(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueNotMappable(f"join needs a list (e.g. [a, b]), got {type(value).__name__}")
        parts = [str(part) for part in value if part not in (None, "")]
        return separator.join(parts) if parts else None

    return transform


def _default(argument: Any, tables: Mapping[str, CodeTable]) -> Transform:
    return lambda value: argument if value is None or value == "" else value


def _integer(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueNotMappable(f"{value!r} is not a whole number") from None


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


TRANSFORMS: dict[str, Callable[[Any, Mapping[str, CodeTable]], Transform]] = {
    "datetime": _datetime,
    "read_datetime": _read_datetime,
    "table": _table,
    "truncate": _truncate,
    "join": _join,
    "default": _default,
    "string": _no_argument("string", _string),
    "integer": _no_argument("integer", _integer),
    "upper": _no_argument("upper", lambda value: str(value).upper()),
    "lower": _no_argument("lower", lambda value: str(value).lower()),
    "strip": _no_argument("strip", lambda value: str(value).strip()),
    "digits": _no_argument("digits", lambda value: "".join(ch for ch in str(value) if ch.isdigit())),
}
