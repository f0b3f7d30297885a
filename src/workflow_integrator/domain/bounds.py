"""The bounds every piece of outside input must fit, the same on SQLite and PostgreSQL.

Intake, the event reads, SecureChange documents and pasted tickets all check their
input against these limits, so nothing is stored that a read cannot show and no
database refuses what another accepted (``docs/security.md`` lists them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Ticket ids: 1 .. 2**53 - 1, the largest integer every JSON reader keeps exactly.
TICKET_ID_MAX = 2**53 - 1
#: Database row ids (events, ...): the largest PostgreSQL's ``integer`` key holds.
ROW_ID_MAX = 2**31 - 1
#: Deepest element or JSON nesting accepted in a SecureChange document or pasted ticket.
MAX_DOCUMENT_DEPTH = 32
#: Most elements (or JSON values) in one document: far above a real ticket.
MAX_DOCUMENT_NODES = 200_000
#: Longest ticket subject, in characters.
MAX_SUBJECT_CHARS = 1000
#: Longest date string (``createDate``, ``updateDate``).
MAX_DATE_CHARS = 64
#: Longest step name.
MAX_STEP_NAME_CHARS = 256

_DIGITS = re.compile(r"[0-9]{1,19}")
# What XML 1.0 can carry: no C0 controls but TAB/LF/CR, no surrogates, no U+FFFE/U+FFFF.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class OutOfBounds(ValueError):
    """Input outside the bounds; the message names the field and what is allowed."""


def parse_ticket_id(raw: str, what: str = "ticket id") -> int:
    """A ticket id written as ASCII digits, within 1 .. TICKET_ID_MAX."""
    text = raw.strip()
    if not _DIGITS.fullmatch(text):
        raise OutOfBounds(
            f"{what} must be a whole number, got {raw[:40]!r}; write it with the digits 0-9"
        )
    return check_ticket_id(int(text), what)


def check_ticket_id(value: int, what: str = "ticket id") -> int:
    """``value`` when it is a valid ticket id; OutOfBounds naming the range otherwise."""
    if isinstance(value, bool) or not 1 <= value <= TICKET_ID_MAX:
        raise OutOfBounds(f"{what} must be between 1 and {TICKET_ID_MAX}, got {value}")
    return value


def row_id_in_range(value: int) -> bool:
    """Whether ``value`` can be a database row id (so a read can say "not found")."""
    return 1 <= value <= ROW_ID_MAX


def check_text(value: str, what: str, max_chars: int) -> str:
    """``value`` when it is at most ``max_chars`` characters of storable text."""
    if len(value) > max_chars:
        raise OutOfBounds(f"{what} is {len(value)} characters long; at most {max_chars} allowed")
    return check_characters(value, what)


def check_characters(value: str, what: str) -> str:
    """``value`` when every character is one XML 1.0 and both databases can store."""
    bad = _NOT_XML_TEXT.search(value)
    if bad is not None:
        code = f"U+{ord(bad.group()):04X}"
        raise OutOfBounds(
            f"{what} contains the character {code}, which cannot be stored; "
            "send text as valid UTF-8 without control characters"
        )
    return value


def check_json_value(value: object, what: str = "body") -> None:
    """Refuse JSON nested deeper than MAX_DOCUMENT_DEPTH, too large, or holding text that
    is not Unicode (lone surrogates, which no database stores and no reader can show).

    Walks with an explicit stack: a deep document must not exhaust Python's recursion.
    """
    stack: list[tuple[object, str, int]] = [(value, what, 1)]
    nodes = 0
    while stack:
        item, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_DOCUMENT_NODES:
            raise OutOfBounds(f"{what} has more than {MAX_DOCUMENT_NODES} values")
        if isinstance(item, str):
            _check_unicode(item, where)
        elif isinstance(item, Mapping | list):
            if depth > MAX_DOCUMENT_DEPTH:
                raise OutOfBounds(
                    f"{what} is nested more than {MAX_DOCUMENT_DEPTH} levels deep"
                )
            if isinstance(item, Mapping):
                for key, member in item.items():
                    _check_unicode(str(key), where)
                    stack.append((member, f"{where}.{key}", depth + 1))
            else:
                stack.extend((m, f"{where}[{i}]", depth + 1) for i, m in enumerate(item))


def _check_unicode(value: str, where: str) -> None:
    bad = _SURROGATE.search(value)
    if bad is not None:
        raise OutOfBounds(
            f"{where[:200]} contains the lone surrogate U+{ord(bad.group()):04X}, which is "
            "not a character; send text as valid UTF-8"
        )
