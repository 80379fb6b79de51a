"""The attack corpus of security.md, in one place for unit, integration and browser tests.

Payload set P (B1), hostile filenames (C2, C4, C7), Unicode and control-character strings
(A4, A5, A9), malformed contact details (A6–A8), open-redirect targets (E5), and the smallest
real files of every accepted kind (C1–C4, C14).
"""

from __future__ import annotations

import struct
import zlib

# --- B1: stored/reflected XSS payload set P ---------------------------------------------------

XSS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><details open ontoggle=alert(1)>",
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    '<div hx-get="/staff/admin/users" hx-trigger="load">',
    "</textarea><script>alert(document.cookie)</script>",
    "{{constructor.constructor('alert(1)')()}}",
)

# --- A13: template injection: must be shown literally, never evaluated ---------------------

TEMPLATE_INJECTION = ("{{7*7}}{% raw %}", "${7*7}", "{{ config }}", "{% for x in range(3) %}x{% endfor %}")

# --- A4 / A9: Unicode that must survive a round trip exactly -------------------------------

UNICODE_NAME = "김민준 😀👨‍👩‍👧 ねこ O'Hara"
UNICODE_BODY = "产品质量有问题。제품이 고장났어요. ねこが好き. Zoë, Ångström, naïve café."
# "e" + COMBINING ACUTE ACCENT is stored in its composed (NFC) form "é" (A4).
DECOMPOSED = "Cafe\u0301 Rene\u0301e"
COMPOSED = "Café Renée"
RTL_SPOOF = "Admin\u202e\u200bevil"

# --- A5: control characters stripped from free text, never a 500 ---------------------------

NUL_TEXT = "abc\x00def"
CONTROL_TEXT = "bell\x07 back\x08space esc\x1b[31m red"
CONTROL_TEXT_CLEAN = "bell backspace esc[31m red"

# --- A6: header injection in anything that may reach a mail header -------------------------

CRLF_NAME = "Bob\r\nSubject: hi"
CRLF_EMAIL = "a@b.com\r\nBcc: victim@x.com"
CRLF_SUBJECT = "Kettle\r\nBcc: victim@x.com"

# --- A7 / A8: malformed contact details ----------------------------------------------------

BAD_EMAILS = ("a@b", "a@b..com", "<script>@x.com", "x" * 65 + "@example.com", "no-at-sign", "a@@b.com")
BAD_PHONES = ("abc", "+", "1" * 40, "12", "+86 abc")
# what the customer typed → what we store (E.164), with the organisation's region CN
GOOD_PHONES = {
    "+86 138 0013 8000": "+8613800138000",
    "+82 10-1234-5678": "+821012345678",
    "138 0013 8000": "+8613800138000",
}

# --- A14: enum tampering -------------------------------------------------------------------

BAD_CATEGORIES = ("../../admin", "999999", "-1", "1 OR 1=1", "<script>")

# --- E5: open-redirect targets for ?next= -------------------------------------------------

OPEN_REDIRECTS = (
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "http://localhost.evil.example/staff/queue",
    "///evil.example",
)

# --- C2 / C4 / C5: names that must be refused whatever their bytes -------------------------

REFUSED_NAMES = (
    "shell.php",
    "x.phtml",
    "x.phar",
    "x.py",
    "x.exe",
    "x.jpg.php",
    "a.html",
    "a.htm",
    "a.xhtml",
    "a.shtml",
    "drawing.svg",
    ".htaccess",
)

# --- C7: path-traversal and odd names (allowed extensions, so the file itself is accepted) -----

TRAVERSAL_NAMES = (
    "../../instance/evil.pdf",
    "..\\..\\windows\\win.pdf",
    "/etc/passwd.pdf",
    "C:\\boot.pdf",
    "a\x00.pdf",
    "con.pdf",
)
LONG_NAME = "x" * 300 + ".pdf"


def multipart_name(name: str) -> str:
    """The name as the test client must send it: the multipart parser unescapes backslashes."""
    return name.replace("\\", "\\\\")


# --- the smallest real files of each accepted kind ------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + _png_chunk(b"IEND", b"")
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
TEXT = "Receipt no. 42 — 收据 — 영수증\n".encode()
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><foreignObject/></svg>'
PHP = b"<?php system($_GET['c']); ?>"
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00"
SCRIPT_TEXT = b"<script>alert(1)</script> plain words\n"
