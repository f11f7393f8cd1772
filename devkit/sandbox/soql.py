"""A parser for the subset of SOQL the platform sends.

    SELECT <field>[, <field>...] | COUNT()
    FROM <Object>
    [WHERE <condition>]          -- comparisons joined by AND / OR / NOT, parentheses
    [ORDER BY <field> [ASC|DESC] [NULLS FIRST|LAST][, ...]]
    [LIMIT n] [OFFSET n]

A condition is `<field> <op> <literal>` with op in = != <> < <= > >= LIKE IN NOT IN.
Literals: 'strings' (backslash escapes), numbers, true/false, null, dates
(2026-11-01), datetimes (2026-11-01T10:00:00.000+0000, ...Z, ...+09:00), and
(list, of, literals) after IN. Datetime and date literals are written unquoted, as
in real SOQL; the executor rejects a quoted value compared with a datetime field,
just as Salesforce does.

Parsing is done here; checking fields against the object and evaluating happen in
salesforce.py, which knows the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class SoqlError(Exception):
    """A malformed query; `position` is the 0-based character offset."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | date | datetime | list
    value: Any  # str, int/float, bool, None, "YYYY-MM-DD", aware datetime, list[Literal]
    text: str  # as written, for error messages


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # = != < <= > >= LIKE IN NOT IN
    value: Literal
    position: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool = False
    nulls_last: bool = False
    position: int = 0


@dataclass
class Query:
    fields: list[tuple[str, int]]  # (name as written, position); empty for COUNT()
    count_only: bool
    sobject: str
    sobject_position: int
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?(?![\w-]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.:]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "NULLS",
             "FIRST", "LAST", "LIMIT", "OFFSET", "IN", "LIKE", "TRUE", "FALSE", "NULL", "COUNT"}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "_": "\\_", "%": "\\%"}  # \_ and \% stay escaped for LIKE


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _tokenize(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SoqlError(f"unexpected token: '{text[pos:pos + 10]}'", pos)
        kind = m.lastgroup
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("eof", "", len(text)))
    return tokens


def _unescape(quoted: str, pos: int) -> str:
    body, out, i = quoted[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise SoqlError(f"Invalid string literal {quoted}: illegal escape sequence \\{nxt}", pos)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_datetime(text: str) -> datetime:
    value = text
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.upper in words

    def expect_kw(self, word: str) -> _Tok:
        if not self.is_kw(word):
            self.fail(f"expecting {word}")
        return self.next()

    def fail(self, hint: str = "") -> None:
        tok = self.tok
        shown = tok.text or "<EOF>"
        raise SoqlError(f"unexpected token: '{shown}'" + (f" ({hint})" if hint else ""), tok.pos)

    def identifier(self, what: str) -> _Tok:
        tok = self.tok
        if tok.kind != "ident" or tok.upper in _KEYWORDS - {"FIRST", "LAST"}:
            self.fail(f"expecting {what}")
        return self.next()

    # grammar
    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[tuple[str, int]] = []
        count_only = False
        if self.is_kw("COUNT") and self.tokens[self.i + 1].text == "(":
            self.next(), self.next()
            if self.tok.text != ")":
                self.fail("only COUNT() is supported")
            self.next()
            count_only = True
        else:
            while True:
                tok = self.identifier("a field name")
                fields.append((tok.text, tok.pos))
                if self.tok.text != ",":
                    break
                self.next()
        self.expect_kw("FROM")
        obj = self.identifier("an object name")
        query = Query(fields, count_only, obj.text, obj.pos)
        if self.is_kw("WHERE"):
            self.next()
            query.where = self.condition()
        if self.is_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            query.order_by = self.order_items()
        if self.is_kw("LIMIT"):
            self.next()
            query.limit = self.integer("LIMIT")
        if self.is_kw("OFFSET"):
            self.next()
            query.offset = self.integer("OFFSET")
        if self.tok.kind != "eof":
            self.fail()
        return query

    def integer(self, clause: str) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.lstrip("+").isdigit():
            self.fail(f"{clause} takes a non-negative integer")
        self.next()
        return int(tok.text)

    def order_items(self) -> list[OrderItem]:
        items = []
        while True:
            tok = self.identifier("a field name")
            descending = False
            if self.is_kw("ASC", "DESC"):
                descending = self.next().upper == "DESC"
            nulls_last = descending  # SOQL default: ASC NULLS FIRST, DESC NULLS LAST
            if self.is_kw("NULLS"):
                self.next()
                if not self.is_kw("FIRST", "LAST"):
                    self.fail("expecting FIRST or LAST")
                nulls_last = self.next().upper == "LAST"
            items.append(OrderItem(tok.text, descending, nulls_last, tok.pos))
            if self.tok.text != ",":
                return items
            self.next()

    def condition(self):
        items = [self.conjunction()]
        while self.is_kw("OR"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self):
        items = [self.unary()]
        while self.is_kw("AND"):
            self.next()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def unary(self):
        if self.is_kw("NOT"):
            self.next()
            return Not(self.unary())
        if self.tok.text == "(":
            self.next()
            inner = self.condition()
            if self.tok.text != ")":
                self.fail("expecting ')'")
            self.next()
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field_tok = self.identifier("a field name")
        tok = self.tok
        if tok.kind == "op":
            op = {"<>": "!="}.get(tok.text, tok.text)
            self.next()
            return Comparison(field_tok.text, op, self.literal(), field_tok.pos)
        if self.is_kw("LIKE"):
            self.next()
            value = self.literal()
            if value.kind != "string":
                raise SoqlError("LIKE takes a string literal", field_tok.pos)
            return Comparison(field_tok.text, "LIKE", value, field_tok.pos)
        if self.is_kw("IN"):
            self.next()
            return Comparison(field_tok.text, "IN", self.literal_list(), field_tok.pos)
        if self.is_kw("NOT") and self.tokens[self.i + 1].upper == "IN":
            self.next(), self.next()
            return Comparison(field_tok.text, "NOT IN", self.literal_list(), field_tok.pos)
        self.fail("expecting a comparison operator")
        raise AssertionError  # unreachable

    def literal_list(self) -> Literal:
        start = self.tok
        if start.text != "(":
            self.fail("expecting '(' after IN")
        self.next()
        values = [self.literal()]
        while self.tok.text == ",":
            self.next()
            values.append(self.literal())
        if self.tok.text != ")":
            self.fail("expecting ')'")
        self.next()
        return Literal("list", values, self.text[start.pos:self.tok.pos].strip())

    def literal(self) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            return Literal("string", _unescape(tok.text, tok.pos), tok.text)
        if tok.kind == "number":
            number = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal("number", number, tok.text)
        if tok.kind == "date":
            return Literal("date", tok.text, tok.text)
        if tok.kind == "datetime":
            try:
                return Literal("datetime", _parse_datetime(tok.text), tok.text)
            except ValueError:
                raise SoqlError(f"invalid datetime literal {tok.text}", tok.pos) from None
        if tok.kind == "ident" and tok.upper in ("TRUE", "FALSE"):
            return Literal("boolean", tok.upper == "TRUE", tok.text)
        if tok.kind == "ident" and tok.upper == "NULL":
            return Literal("null", None, tok.text)
        if tok.kind == "ident":
            raise SoqlError(f"date literal or bind variable '{tok.text}' is not supported by the sandbox; "
                            "use an explicit date or datetime", tok.pos)
        self.i -= 1
        self.fail("expecting a value")
        raise AssertionError  # unreachable


def parse(text: str) -> Query:
    """Parse a query or raise SoqlError."""
    if not text or not text.strip():
        raise SoqlError("empty query", 0)
    return _Parser(text).query()


def error_marker(text: str, position: int) -> str:
    """Salesforce's way of pointing at the offending token:
    the query line, a caret under the column, and ERROR at Row:1:Column:n."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start: None if line_end < 0 else line_end]
    row = text.count("\n", 0, position) + 1
    column = position - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n"


def like_to_regex(pattern: str) -> re.Pattern:
    """SOQL LIKE: % any run, _ one character, case-insensitive; \\% and \\_ literal."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
