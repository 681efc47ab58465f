"""The one place a recording's ``manifest.json`` is checked, and the grammar of its column names.

A recording folder is data from anywhere (a copy, a download, a shared cache), so nothing in it is
trusted: :func:`validate_manifest` checks every field by type and range against :data:`MANIFEST_SCHEMA`
(JSON Schema, checked with ``jsonschema``; integers must be JSON integers, never ``true`` or ``5.0``),
then what a schema cannot say: every column key is exactly the name our code gives its quantity, layer
and direction, and the parts are exactly the ones the recording plans (``part-00000.parquet`` from
sentence 0, ``part_size`` sentences each). A manifest that fails is refused whole, with one line naming
the file, the field and what is allowed.

Column names are never taken from a file into SQL. :func:`parse_column` reads a name by the grammar
``<quantity>_l<layer>_<fwd|rev>`` (``hidden_l0_fwd``, ``cell_candidate_l1_rev``), :func:`split_column` also
reads the module prefix a recording of an adapter with several per-token modules puts in front
(``<prefix>__<quantity>_l<layer>_<fwd|rev>``, the prefix ``[a-z][a-z0-9_]{0,63}`` made from the module path
by :func:`lstmviz.corpus.record.column_prefix`, e.g. ``cells_0__hidden_l0_fwd``), and :func:`sql_identifier`
builds the quoted identifier from the parsed parts with :func:`lstmviz.corpus.record.column_name`, so only
``[a-z0-9_]`` ever reaches a query.

A recording of an adapter (:mod:`lstmviz.corpus.adapted`) names its ``source`` (``models file <path>:<name>``)
instead of a ``checkpoint``, gives each column the ``module`` it comes from and lists the ``skipped_modules``
(module path -> why it was not stored). These are text to show: nothing ever imports or runs what a manifest
names.

Example:
    >>> parse_column("cell_candidate_l1_rev")
    ('cell_candidate', 1, 'rev')
    >>> sql_identifier("hidden_l0_fwd")
    '"hidden_l0_fwd"'
"""

from __future__ import annotations

import math
import re
from typing import Any

from lstmviz.names import QUANTITIES
from lstmviz.safeio import strict_validator

__all__ = [
    "MANIFEST_SCHEMA",
    "MAX_LAYERS",
    "MAX_MODULES",
    "MAX_PART_SIZE",
    "MAX_PARTS",
    "MAX_SENTENCES",
    "MAX_UNITS",
    "parse_column",
    "split_column",
    "sql_identifier",
    "validate_manifest",
]

SCHEMA_ID = "lstmviz.corpus/1"  # lstmviz.corpus.record.SCHEMA
FORWARD_QUANTITIES = tuple(dict.fromkeys(q for qs in QUANTITIES.values() for q in qs))
MAX_LAYERS = 16  # as the checkpoints' CONFIG_LIMITS
MAX_UNITS = 4096  # hidden size, as CONFIG_LIMITS
MAX_SENTENCES = 100_000_000
MAX_PART_SIZE = 100_000  # sentences per part
MAX_PARTS = 100_000  # part-00000 .. part-99999
MAX_MODULES = 64  # stored (per-token) modules of an adapter's recording, and skipped ones
_INT = {"type": "integer"}

_COLUMN = re.compile(r"(?P<quantity>[a-z_]+)_l(?P<layer>0|[1-9][0-9]?)_(?P<direction>fwd|rev)")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,63}")  # lstmviz.corpus.record.column_prefix (MAX_PREFIX = 64)
_COLUMN_PATTERN = rf"^([a-z][a-z0-9_]{{0,63}}__)?({'|'.join(FORWARD_QUANTITIES)})_l(0|[1-9][0-9]?)_(fwd|rev)$"
_PLAIN_ALLOWED = "<quantity>_l<layer>_<fwd|rev>, e.g. hidden_l0_fwd"  # parse_column's grammar
_COLUMN_ALLOWED = (
    "<quantity>_l<layer>_<fwd|rev>, e.g. hidden_l0_fwd, or <module>__ in front, e.g. cells_0__hidden_l0_fwd"
)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters: shown on a terminal or a page, never run

#: What a manifest may hold. ``description`` is the "allowed" part of the message when a value fails;
#: ``errorMessage`` (the ajv-errors convention; validators ignore it) replaces the generic reason.
MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": f"a JSON object with the fields of schema {SCHEMA_ID}",
    "required": ["schema", "sentences", "quantities", "dtype", "part_size", "columns", "parts"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_ID, "description": SCHEMA_ID},
        "checkpoint": {"type": "string", "maxLength": 4096, "description": "a path of at most 4,096 characters"},
        "source": {
            "type": "string",
            "maxLength": 4200,
            "pattern": _PRINTABLE,
            "description": "models file <path>:<adapter name>, at most 4,200 printable characters",
        },
        "skipped_modules": {
            "type": "object",
            "maxProperties": MAX_MODULES,
            "description": f"an object {{module path: why it was not stored}} of at most {MAX_MODULES} entries",
            "propertyNames": {
                "maxLength": 200,
                "pattern": _PRINTABLE,
                "errorMessage": "is not a module path",
                "description": "at most 200 printable characters",
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": 300,
                "pattern": _PRINTABLE,
                "description": "a reason of at most 300 printable characters",
            },
        },
        "model_fingerprint": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "64 lowercase hex digits (sha256)",
        },
        "data_sha256": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "64 lowercase hex digits (sha256)",
        },
        "sentences": {**_INT, "minimum": 0, "maximum": MAX_SENTENCES, "description": f"0 .. {MAX_SENTENCES:,}"},
        "quantities": {
            "type": "array",
            "minItems": 1,
            "maxItems": len(FORWARD_QUANTITIES),
            "uniqueItems": True,
            "items": {"enum": list(FORWARD_QUANTITIES), "description": ", ".join(FORWARD_QUANTITIES)},
            "description": f"a list of distinct quantities among {', '.join(FORWARD_QUANTITIES)}",
        },
        "dtype": {"enum": ["float16", "float32"], "description": "float16, float32"},
        "part_size": {**_INT, "minimum": 1, "maximum": MAX_PART_SIZE, "description": f"1 .. {MAX_PART_SIZE:,}"},
        "columns": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": len(FORWARD_QUANTITIES) * MAX_LAYERS * 2 * MAX_MODULES,
            "description": "an object {column name: {quantity, layer, direction, units[, module]}}",
            "propertyNames": {
                "pattern": _COLUMN_PATTERN,
                "errorMessage": "is not a column name lstmviz writes",
                "description": _COLUMN_ALLOWED,
            },
            "additionalProperties": {
                "type": "object",
                "description": "an object {quantity, layer, direction, units[, module]}",
                "required": ["quantity", "layer", "direction", "units"],
                "additionalProperties": False,
                "properties": {
                    "module": {
                        "type": "string",
                        "maxLength": 200,
                        "pattern": _PRINTABLE,
                        "description": "a module path of at most 200 printable characters",
                    },
                    "quantity": {"enum": list(FORWARD_QUANTITIES), "description": ", ".join(FORWARD_QUANTITIES)},
                    "layer": {**_INT, "minimum": 0, "maximum": MAX_LAYERS - 1, "description": f"0 .. {MAX_LAYERS - 1}"},
                    "direction": {"enum": ["fwd", "rev"], "description": "fwd, rev"},
                    "units": {**_INT, "minimum": 1, "maximum": MAX_UNITS, "description": f"1 .. {MAX_UNITS:,}"},
                },
            },
        },
        "parts": {
            "type": "array",
            "maxItems": MAX_PARTS,
            "description": "a list of {file, first, end}",
            "items": {
                "type": "object",
                "description": "an object {file, first, end}",
                "required": ["file", "first", "end"],
                "additionalProperties": False,
                "properties": {
                    "file": {
                        "type": "string",
                        "pattern": r"^part-[0-9]{5}\.parquet$",
                        "errorMessage": "names parts that are not lstmviz part files",
                        "description": "part-00000.parquet, part-00001.parquet, ... in order",
                    },
                    "first": {**_INT, "minimum": 0, "maximum": MAX_SENTENCES, "description": f"0 .. {MAX_SENTENCES:,}"},
                    "end": {**_INT, "minimum": 0, "maximum": MAX_SENTENCES, "description": f"0 .. {MAX_SENTENCES:,}"},
                },
            },
        },
        "library_version": {"type": "string", "maxLength": 64, "description": "a version of at most 64 characters"},
    },
}

_REASONS = {
    "type": "wrong type",
    "const": "not the expected value",
    "enum": "not one of the allowed values",
    "minimum": "out of range",
    "maximum": "out of range",
    "pattern": "malformed",
    "maxLength": "too long",
    "minItems": "too short",
    "maxItems": "too many entries",
    "minProperties": "empty",
    "maxProperties": "too many entries",
    "uniqueItems": "has duplicates",
    "required": "a field is missing",
    "additionalProperties": "unknown field",
}


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value on one line, cut to ``limit`` characters."""
    text = repr(value)
    if isinstance(value, (dict, list)):
        text = f"{type(value).__name__ if isinstance(value, dict) else 'list'} {text}"
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(path: Any) -> str:
    """``columns.hidden_l0_fwd.units`` / ``parts[3].file`` from a jsonschema path."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the manifest"


def _schema_message(where: str, error: Any) -> str:
    """One line for the most relevant schema error: the file, the field, its value and what is allowed."""
    schema, field, kind = error.schema, _field(error.absolute_path), error.validator
    if "propertyNames" in error.schema_path:
        return (
            f"{where}: {field} key {_short(error.instance)} {schema['errorMessage']}; allowed: {schema['description']}"
        )
    if kind == "required":
        missing = next((k for k in error.validator_value if k not in error.instance), "?")
        inside = f" in {field}" if error.absolute_path else ""
        return (
            f"{where}: field {missing!r} is missing{inside}; allowed: {schema.get('description', 'the schema fields')}"
        )
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        prefix = f"{field}." if error.absolute_path else ""
        name = (extra[0] if re.fullmatch(r"\w{1,40}", extra[0]) else _short(extra[0])) if extra else "?"
        return f"{where}: unknown field {prefix}{name}; allowed: {', '.join(schema.get('properties', {}))}"
    reason = schema.get("errorMessage") or f"is invalid ({_REASONS.get(kind, kind)})"
    return f"{where}: {field} = {_short(error.instance)} {reason}; allowed: {schema.get('description', kind)}"


def parse_column(name: Any) -> tuple[str, int, str]:
    """``(quantity, layer, direction)`` of a value column name by the grammar ``<quantity>_l<layer>_<fwd|rev>``.

    Raises:
        ValueError: when ``name`` is not one our code writes (unknown quantity, layer > 99, leading zeros, ...).

    Example:
        >>> parse_column("hidden_l12_rev")
        ('hidden', 12, 'rev')
        >>> parse_column('hidden_l0_fwd"; COPY')
        Traceback (most recent call last):
        ...
        ValueError: column 'hidden_l0_fwd"; COPY' is not a column name lstmviz writes; allowed: <quantity>_l<layer>_<fwd|rev>, e.g. hidden_l0_fwd
    """  # noqa: E501
    m = _COLUMN.fullmatch(name) if isinstance(name, str) else None
    if m is None or m["quantity"] not in FORWARD_QUANTITIES:
        raise ValueError(f"column {_short(name)} is not a column name lstmviz writes; allowed: {_PLAIN_ALLOWED}")
    return m["quantity"], int(m["layer"]), m["direction"]


def split_column(name: Any) -> tuple[str | None, str, int, str]:
    """``(prefix, quantity, layer, direction)`` of a value column name, the prefix ``None`` when the name has none
    (see the module docstring; the prefix is the part before the last ``__``).

    Raises:
        ValueError: when ``name`` is not one our code writes.

    Example:
        >>> split_column("cells_0__hidden_l0_fwd"), split_column("hidden_l0_fwd")
        (('cells_0', 'hidden', 0, 'fwd'), (None, 'hidden', 0, 'fwd'))
    """
    prefix, sep, rest = name.rpartition("__") if isinstance(name, str) else (None, "", name)
    if not sep or _PREFIX.fullmatch(prefix):
        try:
            return (prefix if sep else None, *parse_column(rest))
        except ValueError:
            pass
    raise ValueError(f"column {_short(name)} is not a column name lstmviz writes; allowed: {_COLUMN_ALLOWED}")


def sql_identifier(name: Any) -> str:
    """The double-quoted SQL identifier of a value column, rebuilt by our own code from its parsed parts.

    Example:
        >>> sql_identifier("forget_l1_fwd"), sql_identifier("cells_1__forget_l1_fwd")
        ('"forget_l1_fwd"', '"cells_1__forget_l1_fwd"')
    """
    from lstmviz.corpus.record import column_name

    prefix, *parts = split_column(name)
    rebuilt = column_name(*parts, module=prefix)  # a prefix is its own column_prefix
    if not _IDENT.fullmatch(rebuilt):  # unreachable by construction; the last check before SQL
        raise ValueError(f"column {_short(name)} is not a column name lstmviz writes; allowed: {_COLUMN_ALLOWED}")
    return f'"{rebuilt}"'


def validate_manifest(obj: Any, where: str = "manifest.json") -> dict[str, Any]:
    """``obj`` when it is a valid manifest of schema ``lstmviz.corpus/1``; else ValueError, one line naming
    ``where``, the field and what is allowed.

    Example:
        >>> validate_manifest({"schema": "lstmviz.corpus/1", "columns": []}, "m.json")
        Traceback (most recent call last):
        ...
        ValueError: m.json: field 'sentences' is missing; allowed: a JSON object with the fields of schema lstmviz.corpus/1
        >>> m = {"schema": "lstmviz.corpus/1", "sentences": 3, "quantities": ["hidden"], "dtype": "float16",
        ...      "part_size": 2, "columns": [], "parts": []}
        >>> validate_manifest(m, "m.json")
        Traceback (most recent call last):
        ...
        ValueError: m.json: columns = list [] is invalid (wrong type); allowed: an object {column name: {quantity, layer, direction, units[, module]}}
    """  # noqa: E501
    from lstmviz.corpus.record import column_name

    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA_ID:
        raise ValueError(f"{where} is not a lstmviz corpus manifest (schema {SCHEMA_ID})")
    from jsonschema.exceptions import best_match

    # the shallowest error: the field a reader fixes first
    error = best_match(strict_validator(MANIFEST_SCHEMA).iter_errors(obj))
    if error is not None:
        raise ValueError(_schema_message(where, error))
    quantities = obj["quantities"]
    for key, info in obj["columns"].items():
        named = column_name(info["quantity"], info["layer"], info["direction"])
        if "module" in info and key != named:  # an adapter's column: the module's prefix may stand in front
            try:
                named = column_name(info["quantity"], info["layer"], info["direction"], module=info["module"])
            except ValueError:  # a module path too long for a prefix: named without one
                pass
        if key != named:
            raise ValueError(
                f"{where}: columns key {_short(key)} does not name its own quantity, layer and direction; "
                f"allowed: {named!r}"
            )
        if info["quantity"] not in quantities:
            raise ValueError(
                f"{where}: columns.{key}.quantity = {info['quantity']!r} is not among quantities; "
                f"allowed: {', '.join(quantities)}"
            )
    n, size = obj["sentences"], obj["part_size"]
    planned = math.ceil(n / size)
    if planned > MAX_PARTS:
        raise ValueError(f"{where}: sentences / part_size = {planned:,} parts; allowed: at most {MAX_PARTS:,}")
    if len(obj["parts"]) != planned:
        raise ValueError(
            f"{where}: parts lists {len(obj['parts']):,} parts; allowed: {planned:,} "
            f"({n:,} sentences, {size:,} per part)"
        )
    for i, part in enumerate(obj["parts"]):
        want = {"file": f"part-{i:05d}.parquet", "first": i * size, "end": min(n, (i + 1) * size)}
        if part != want:
            key = next(k for k in ("file", "first", "end") if part[k] != want[k])
            raise ValueError(
                f"{where}: parts[{i}].{key} = {_short(part[key])} is not the planned part; allowed: {want[key]!r}"
            )
    return obj
