"""Checks Bot API calls against the vendored official spec (telegram-bot-api/api.json).

Parameters reach the Bot API as strings (query string or form fields; JSON-body
values are read the same way), and object parameters are JSON-serialised. This
module decodes them to Python values and reports every mismatch with the spec:
unknown parameters, missing required ones, wrong types, and, inside JSON
objects, unknown, missing or mistyped fields.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SPEC_PATH = Path(__file__).with_name("telegram-bot-api") / "api.json"

_INTEGER = re.compile(r"-?\d+")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
# "Type of the chat, always "private"" / "Scope type, must be chat": the value that
# tells the members of a union type (BotCommandScope, ReactionType...) apart.
_DISCRIMINATOR = re.compile(r'(?:always|must be) "?([a-z_]+)"?')


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart/form-data part (an InputFile)."""
    filename: str
    data: bytes


@dataclass(frozen=True)
class Problem:
    parameter: str
    reason: str


class BotApiSpec:
    def __init__(self, path: Path = SPEC_PATH) -> None:
        spec = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = spec.get("version", "")
        self.methods: dict = spec["methods"]
        self.types: dict = spec["types"]
        self._by_lower = {name.lower(): name for name in self.methods}  # method names are case-insensitive

    def canonical_method(self, name: str) -> str | None:
        return self._by_lower.get(name.lower())

    def returns(self, method: str) -> list[str]:
        return self.methods[method]["returns"]

    def decode(self, method: str, raw: dict[str, str | Upload]) -> tuple[dict, list[Problem]]:
        """Decode wire values of `method`'s parameters; return (params, problems)."""
        fields = {f["name"]: f for f in self.methods[method].get("fields", [])}
        params: dict = {}
        problems: list[Problem] = []
        for name, value in raw.items():
            spec_field = fields.get(name)
            if spec_field is None:
                problems.append(Problem(name, f'unknown parameter "{name}"'))
                params[name] = value
                continue
            if value == "" and "String" not in spec_field["types"]:
                continue  # Telegram treats an empty non-string parameter as absent
            try:
                params[name] = self._decode_parameter(value, spec_field["types"], name)
            except _Mismatch as mismatch:
                problems.append(Problem(name, str(mismatch)))
                params[name] = value
        for name, spec_field in fields.items():
            if spec_field["required"] and name not in params:
                problems.append(Problem(name, f'parameter "{name}" is required'))
        return params, problems

    def _decode_parameter(self, value: str | Upload, types: list[str], path: str):
        if isinstance(value, Upload):
            if "InputFile" in types:
                return value
            raise _Mismatch(f"{path} must be of type {' or '.join(types)}, not a file upload")
        scalar_errors = []
        for kind in types:
            if kind == "String":
                return value
            if kind == "Integer" and _INTEGER.fullmatch(value.strip()):
                return int(value)
            if kind == "Float":
                try:
                    return float(value)
                except ValueError:
                    pass
            if kind == "Boolean" and value.strip().lower() in _BOOLEANS:
                return _BOOLEANS[value.strip().lower()]
            if kind in ("Integer", "Float", "Boolean"):
                scalar_errors.append(kind)
        if scalar_errors and len(scalar_errors) == len(types):
            raise _Mismatch(f"{path} must be of type {' or '.join(types)}, got {value!r}")
        try:
            decoded = json.loads(value)
        except ValueError:
            raise _Mismatch(f"can't parse {path} JSON object") from None
        self.check(decoded, [t for t in types if t not in ("Integer", "Float", "Boolean")], path)
        return decoded

    def check(self, value, types: list[str], path: str) -> None:
        """Check a decoded JSON value against a union of spec types; raise _Mismatch."""
        errors = []
        for kind in types:
            try:
                self._check_one(value, kind, path)
                return
            except _Mismatch as mismatch:
                errors.append(mismatch)
        if len(errors) == 1:
            raise errors[0]
        # The one type whose shape the value has explains the problem best.
        deep = [error for error in errors if error.deep]
        raise deep[0] if len(deep) == 1 else _Mismatch(f"{path} must be of type {' or '.join(types)}")

    def _check_one(self, value, kind: str, path: str) -> None:
        if kind.startswith("Array of "):
            if not isinstance(value, list):
                raise _Mismatch(f"{path} must be an Array")
            with _deep():
                for index, item in enumerate(value):
                    self.check(item, [kind[len("Array of "):]], f"{path}[{index}]")
            return
        simple = {"String": str, "Integer": int, "Float": (int, float), "Boolean": bool}.get(kind)
        if simple is not None:
            if not isinstance(value, simple) or (kind != "Boolean" and isinstance(value, bool)):
                raise _Mismatch(f"{path} must be of type {kind}")
            return
        spec_type = self.types.get(kind)
        if spec_type is None or ("fields" not in spec_type and "subtypes" not in spec_type):
            return  # InputFile, CallbackGame...: nothing the spec can check
        if "subtypes" in spec_type:
            self._check_variant(value, kind, spec_type["subtypes"], path)
            return
        if not isinstance(value, dict):
            raise _Mismatch(f"{path} must be an object of type {kind}")
        fields = {f["name"]: f for f in spec_type["fields"]}
        for name in value:
            if name not in fields:
                raise _Mismatch(f'{path}: unknown field "{name}" of {kind}')
        with _deep():
            for name, spec_field in fields.items():
                if value.get(name) is not None:  # JSON null counts as an omitted optional field
                    self.check(value[name], spec_field["types"], f"{path}.{name}")
                elif spec_field["required"]:
                    raise _Mismatch(f'{path}: field "{name}" of {kind} is required')

    def _check_variant(self, value, kind: str, subtypes: list[str], path: str) -> None:
        """A union type: pick the member by its discriminator field when there is one."""
        if isinstance(value, dict):
            for subtype in subtypes:
                expected = self._discriminator(subtype)
                if expected and value.get(expected[0]) == expected[1]:
                    with _deep():
                        self.check(value, [subtype], path)
                    return
            if any(self._discriminator(s) for s in subtypes):
                raise _Mismatch(f"{path} is not a valid {kind}: unknown or missing type")
        self.check(value, subtypes, path)

    def _discriminator(self, subtype: str) -> tuple[str, str] | None:
        for spec_field in self.types.get(subtype, {}).get("fields", []):
            if spec_field["name"] in ("type", "status", "source"):
                found = _DISCRIMINATOR.search(spec_field["description"])
                if found:
                    return spec_field["name"], found.group(1)
        return None


class _Mismatch(ValueError):
    """deep: the value had the shape of the type (known fields), the problem is further in."""

    def __init__(self, reason: str, deep: bool = False) -> None:
        super().__init__(reason)
        self.deep = deep


@contextmanager
def _deep():
    """Mark mismatches raised inside as deep."""
    try:
        yield
    except _Mismatch as mismatch:
        raise _Mismatch(str(mismatch), deep=True) from None
