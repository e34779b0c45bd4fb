"""Crawled text made safe for a terminal or a text file: control characters shown, not obeyed.

A page title, an anchor text, a URL, a server's error reason can hold ESC, BEL, CR or an
OSC sequence that would retitle the terminal, write the clipboard (OSC 52) or erase lines.
Every C0 and C1 control character, DEL and the Unicode bidirectional controls are written
as escapes (``\\x1b``, ``\\u202e``); JSON output stays exact.
"""
from __future__ import annotations

_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def safe(text) -> str:
    """``text`` with every control character escaped (None gives '').

    >>> safe("Hi\\x1b]52;c;aGk=\\x07 there\\r")
    'Hi\\\\x1b]52;c;aGk=\\\\x07 there\\\\x0d'
    >>> safe("caf\\u00e9 \\u202egnp.exe")
    'café \\\\u202egnp.exe'
    """
    if text is None:
        return ""
    text = str(text)
    return text.translate(_TABLE) if not text.isprintable() else text
