"""Turn the files of a request into checked files, or field errors the form shows (C1–C7)."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from portal.services.attachments import AttachmentRejected, CheckedFile, IncomingFile, check_file


def checked_uploads(files: list[FileStorage]) -> tuple[list[CheckedFile], list[str]]:
    chosen = [f for f in files if f and f.filename]
    limit = current_app.config["MAX_ATTACHMENTS"]
    max_bytes = current_app.config["MAX_ATTACHMENT_BYTES"]
    if len(chosen) > limit:
        return [], [_("Attach at most %(limit)d files.", limit=limit)]
    checked: list[CheckedFile] = []
    errors: list[str] = []
    for upload in chosen:
        data = upload.stream.read(max_bytes + 1)  # never read more than one byte over the limit
        try:
            checked.append(check_file(IncomingFile(upload.filename or "", data), max_bytes))
        except AttachmentRejected as rejected:
            errors.append(str(rejected))
    if errors and len(chosen) > len(errors):
        errors.append(_("Nothing was saved; please choose your files again."))
    return checked, errors


def download_response(attachment, upload_dir: str):  # type: ignore[no-untyped-def]
    """Serve an attachment as a download that can never run in our origin (C6, ASVS 12.5.2)."""
    from flask import send_file

    from portal.services.attachments import stored_path

    response = send_file(
        stored_path(upload_dir, attachment.stored_name),
        mimetype=attachment.content_type.split(";")[0],  # Werkzeug adds the charset itself
        as_attachment=True,
        download_name=attachment.original_name,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
