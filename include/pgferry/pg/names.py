"""PostgreSQL identifier syntax for user input: `schema`, `schema.table`, `schema.table(col, ...)`,
`schema.table.column`. Unquoted names fold to lower case; double quotes keep case, spaces, dots and
reserved words ("" stands for one quote), as in SQL. Reading user input keeps its own small reader, whose
messages say where an entry is malformed; quoting for output is pglast's (PostgreSQL's keyword list)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
from pglast.stream import maybe_double_quote_name


class NameSyntaxError(ValueError):
    pass


def _read_identifier(text: str, i: int, whole: str) -> tuple[str, int]:
    if i < len(text) and text[i] == '"':
        out, i = [], i + 1
        while True:
            j = text.find('"', i)
            if j < 0:
                raise NameSyntaxError(f"{whole!r}: unterminated double quote")
            out.append(text[i:j])
            if j + 1 < len(text) and text[j + 1] == '"':
                out.append('"')
                i = j + 2
                continue
            name = "".join(out)
            if not name:
                raise NameSyntaxError(f"{whole!r}: empty quoted identifier")
            return name, j + 1
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] in "_$"):
        j += 1
    if j == i or text[i].isdigit() or text[i] == "$":
        raise NameSyntaxError(f"{whole!r}: expected an identifier at position {i + 1} "
                              f"(quote names with spaces, dots or upper case in double quotes)")
    # PostgreSQL folds only ASCII letters of unquoted names.
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text[i:j]), j


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def split_qualified(text: str, max_parts: int = 3) -> tuple[list[str], int]:
    """Read dot-separated identifiers from the start of `text`; return them and the end position."""
    parts, i = [], _skip_ws(text, 0)
    while True:
        name, i = _read_identifier(text, i, text)
        parts.append(name)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ".":
            i = _skip_ws(text, i + 1)
            if len(parts) == max_parts:
                raise NameSyntaxError(f"{text!r}: at most {max_parts} dot-separated names")
            continue
        return parts, i


def quote_ident(name: str) -> str:
    """Always-quoted form, for messages and pg_dump patterns (inside quotes patterns are literal)."""
    return '"' + name.replace('"', '""') + '"'


_SIMPLE = re.compile(r"[a-z_][a-z0-9_]*")


def dump_ident(name: str) -> str:
    """How pg_dump writes an identifier in its table of contents (fmtId): quoted unless it is lower-case
    letters, digits and underscores and no keyword but an unreserved one."""
    if _SIMPLE.fullmatch(name) and name not in RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS:
        return name
    return quote_ident(name)


def display(*parts: str) -> str:
    """How PostgreSQL would print a qualified name: quoted where needed (upper case, spaces, dots,
    non-ASCII, and reserved words such as `select`), by pglast's rule, the one its printer uses."""
    return ".".join(maybe_double_quote_name(p) if p else quote_ident(p) for p in parts)


@dataclass(frozen=True)
class ObjectSpec:
    """One entry of the `objects` Param."""
    schema: str
    table: str | None = None
    columns: tuple[str, ...] | None = None

    def __str__(self):
        base = display(self.schema, self.table) if self.table else display(self.schema)
        if self.columns is not None:
            base += "(" + ", ".join(display(c) for c in self.columns) + ")"
        return base


def parse_object_spec(text: str) -> ObjectSpec:
    if not isinstance(text, str) or not text.strip():
        raise NameSyntaxError("an empty entry in objects: give `schema`, `schema.table` or `schema.table(col, ...)`")
    parts, i = split_qualified(text, max_parts=2)
    columns = None
    if i < len(text) and text[i] == "(":
        if len(parts) != 2:
            raise NameSyntaxError(f"{text!r}: a column list needs schema.table before it")
        columns, i = [], _skip_ws(text, i + 1)
        while True:
            col, i = _read_identifier(text, i, text)
            columns.append(col)
            i = _skip_ws(text, i)
            if i < len(text) and text[i] == ",":
                i = _skip_ws(text, i + 1)
                continue
            if i < len(text) and text[i] == ")":
                i = _skip_ws(text, i + 1)
                break
            raise NameSyntaxError(f"{text!r}: expected ',' or ')' in the column list")
        if len(set(columns)) != len(columns):
            raise NameSyntaxError(f"{text!r}: a column is listed twice")
        columns = tuple(columns)
    if i != len(text):
        raise NameSyntaxError(f"{text!r}: unexpected {text[i:]!r} (quote names with spaces, dots or upper case "
                              f"in double quotes)")
    return ObjectSpec(parts[0], parts[1] if len(parts) == 2 else None, columns)


def parse_rename_key(text: str) -> tuple[str, ...]:
    parts, i = split_qualified(text, max_parts=3)
    if i != len(text.rstrip()):
        raise NameSyntaxError(f"rename key {text!r}: unexpected {text[i:]!r}")
    return tuple(parts)


def parse_bare_name(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise NameSyntaxError(f"{what}: the new name must be a string")
    try:
        parts, i = split_qualified(text, max_parts=1)
    except NameSyntaxError:
        i, parts = -1, None
    if parts is None or i != len(text.rstrip()):
        raise NameSyntaxError(f"{what}: the new name {text!r} must be one bare name (no dots; quote it if it "
                              f"has special characters)")
    if len(parts[0].encode()) > 63:
        raise NameSyntaxError(f"{what}: the new name {text!r} is longer than PostgreSQL's 63-byte limit")
    return parts[0]
