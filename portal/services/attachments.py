"""Attachment intake: check each file by its content, store it under a random name.

Files are never decoded or decompressed (R2 keeps originals unaltered; no pixel or zip bombs),
never stored under a name the user chose, and never served from a static route (security.md C*).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import filetype

from portal.domain.errors import DomainError

# Extension → (content type, kinds `filetype` may report for it). Plain text has no magic.
ALLOWED_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "pdf": ("application/pdf", frozenset({"pdf"})),
    "jpg": ("image/jpeg", frozenset({"jpg"})),
    "jpeg": ("image/jpeg", frozenset({"jpg"})),
    "png": ("image/png", frozenset({"png"})),
    "webp": ("image/webp", frozenset({"webp"})),
    "txt": ("text/plain; charset=utf-8", frozenset()),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        frozenset({"docx", "zip"}),
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        frozenset({"xlsx", "zip"}),
    ),
}


class AttachmentRejected(DomainError):
    """A file is not acceptable; the message says why in words a customer understands."""


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedFile:
    original_name: str
    content_type: str
    data: bytes
    sha256: str


def clean_filename(name: str) -> str:
    """Keep a displayable original name as metadata only: no path, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if len(name) > 200:  # shorten the stem, never the extension that decides the type
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[: 199 - len(extension)]}.{extension}" if dot and len(extension) <= 10 else name[:200]
    return name or "attachment"


def check_file(incoming: IncomingFile, max_bytes: int) -> CheckedFile:
    """Accept the file only if its extension is allowed and its bytes agree with it."""
    name = clean_filename(incoming.filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED_TYPES:
        raise AttachmentRejected(f"{name}: this type of file is not accepted")
    if not incoming.data:
        raise AttachmentRejected(f"{name}: the file is empty")
    if len(incoming.data) > max_bytes:
        raise AttachmentRejected(f"{name}: the file is larger than {max_bytes // (1024 * 1024)} MB")
    content_type, expected_kinds = ALLOWED_TYPES[extension]
    detected = filetype.guess(incoming.data)
    if expected_kinds:
        if detected is None or detected.extension not in expected_kinds:
            raise AttachmentRejected(f"{name}: the file's contents do not match its type")
    else:
        if detected is not None or b"\x00" in incoming.data:
            raise AttachmentRejected(f"{name}: the file's contents do not match its type")
        try:
            incoming.data.decode("utf-8")
        except UnicodeDecodeError:
            raise AttachmentRejected(f"{name}: a text file must be UTF-8 text") from None
    return CheckedFile(
        original_name=name,
        content_type=content_type,
        data=incoming.data,
        sha256=hashlib.sha256(incoming.data).hexdigest(),
    )


def write_files(files: list[CheckedFile], upload_dir: str) -> list[str]:
    """Write checked files under random names; on any failure remove what was written."""
    directory = Path(upload_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        for checked in files:
            stored_name = secrets.token_hex(16)
            path = directory / stored_name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            written.append(stored_name)
            with os.fdopen(fd, "wb") as handle:
                handle.write(checked.data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError:
        remove_files(written, upload_dir)
        raise
    return written


def remove_files(stored_names: list[str], upload_dir: str) -> None:
    for stored_name in stored_names:
        (Path(upload_dir) / stored_name).unlink(missing_ok=True)


def stored_path(upload_dir: str, stored_name: str) -> Path:
    return Path(upload_dir) / stored_name
