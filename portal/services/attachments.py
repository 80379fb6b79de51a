"""Attachment intake: check each file by its content, store it under a random name.

Files are never decoded or decompressed (R2 keeps originals unaltered; no pixel or zip bombs),
never stored under a name the user chose, and never served from a static route (security.md C*).

A file gets its final name only once the row naming it has committed: it is written (and
fsynced) as `<name>.part`, the row commits, then it is renamed (security.md L). A process killed
in between leaves a temporary file no row names, never a file that looks like an attachment;
`remove_strays` (run by the background sweep) clears those, and finishes the rename of one whose
row did commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.errors import DomainError
from portal.models import Attachment

log = logging.getLogger("portal.attachments")

PARTIAL_SUFFIX = ".part"
STORED_NAME = re.compile(r"[0-9a-f]{32}")  # what write_files names a file; nothing else is ours
# No request writes a file and commits its row an hour apart: a file that old no row names was
# left by a crash (or a failure whose clean-up did not finish).
STRAY_AFTER = timedelta(hours=1)
_LOOKUP_BATCH = 500

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
    """Write checked files under temporary names, durably; on any failure remove what was written.

    Returns the stored (final) names for the rows; `publish_files` gives the files those names
    after the rows commit, `remove_files` takes them away if the commit fails.
    """
    directory = Path(upload_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        for checked in files:
            stored_name = secrets.token_hex(16)
            fd = os.open(_partial(directory, stored_name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            written.append(stored_name)
            with os.fdopen(fd, "wb") as handle:
                handle.write(checked.data)
                handle.flush()
                os.fsync(handle.fileno())
        if written:
            _sync_directory(directory)  # the names too: a row must never outlive its file (R2)
    except OSError:
        remove_files(written, upload_dir)
        raise
    return written


def publish_files(stored_names: Iterable[str], upload_dir: str) -> None:
    """After the rows committed: rename each file to its final name, then make that durable.

    Never raises: the complaint is stored by now. A file left under its temporary name is still
    found (`stored_path`) and renamed later (`remove_strays`).
    """
    directory = Path(upload_dir)
    names = list(stored_names)
    for stored_name in names:
        try:
            _publish(directory, stored_name)
        except OSError:
            log.exception("attachment %s kept its temporary name; the sweep will finish it", stored_name)
    if names:
        try:
            _sync_directory(directory)
        except OSError:
            log.exception("could not sync the upload folder")


def remove_files(stored_names: list[str], upload_dir: str) -> None:
    directory = Path(upload_dir)
    for stored_name in stored_names:
        _partial(directory, stored_name).unlink(missing_ok=True)
        (directory / stored_name).unlink(missing_ok=True)


def stored_path(upload_dir: str, stored_name: str) -> Path:
    """Where the file of a committed attachment row is.

    If its writer died between the commit and the rename, the rename is finished here: the row
    exists, so the file is the attachment's, whole and fsynced.
    """
    path = Path(upload_dir) / stored_name
    if not path.exists():
        with contextlib.suppress(OSError):  # truly missing: opening the path reports it as before
            _publish(path.parent, stored_name)
    return path


def remove_strays(
    session: Session, upload_dir: str, *, now: datetime, older_than: timedelta = STRAY_AFTER
) -> int:
    """Clear what crashes left in the upload folder; return how many files were removed.

    Files older than `older_than` go when they are temporary (`.part`) and no committed row
    names them, or when no row names them at all. A temporary file whose row did commit is
    renamed instead. Only names `write_files` gives are considered: anything else in the folder
    is not ours to delete. The rows are read first and the transaction ended before any file is
    touched, so no lock is held while the disk works.
    """
    directory = Path(upload_dir)
    cutoff = (now - older_than).timestamp()
    old: dict[str, list[Path]] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        stored_name = entry.name.removesuffix(PARTIAL_SUFFIX)
        if not STORED_NAME.fullmatch(stored_name):
            continue
        try:
            if (
                not entry.is_file(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_mtime >= cutoff
            ):
                continue
        except FileNotFoundError:
            continue
        old.setdefault(stored_name, []).append(Path(entry.path))
    if not old:
        return 0
    names = sorted(old)
    owned: set[str] = set()
    for start in range(0, len(names), _LOOKUP_BATCH):
        batch = names[start : start + _LOOKUP_BATCH]
        owned.update(session.scalars(select(Attachment.stored_name).where(Attachment.stored_name.in_(batch))))
    session.commit()
    removed = 0
    for stored_name, paths in old.items():
        for path in paths:
            try:
                if stored_name not in owned:
                    path.unlink()
                    removed += 1
                    log.warning("removed stray upload %s: no attachment row names it", path.name)
                elif path.name.endswith(PARTIAL_SUFFIX):
                    _publish(directory, stored_name)
                    log.warning(
                        "finished storing attachment %s (its writer stopped after the commit)", stored_name
                    )
            except FileNotFoundError:
                continue  # a request or another sweep got there first
            except OSError:
                log.exception("could not clear %s from the upload folder", path.name)
    try:
        _sync_directory(directory)
    except OSError:
        log.exception("could not sync the upload folder")
    return removed


def _partial(directory: Path, stored_name: str) -> Path:
    return directory / f"{stored_name}{PARTIAL_SUFFIX}"


def _publish(directory: Path, stored_name: str) -> None:
    """Give a temporary file its final name (atomic); done already by someone else is fine."""
    try:
        os.rename(_partial(directory, stored_name), directory / stored_name)
    except FileNotFoundError:
        if not (directory / stored_name).exists():
            raise


def _sync_directory(directory: Path) -> None:
    """A file's fsync does not cover its name: fsync the folder so a new or renamed name lasts."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
