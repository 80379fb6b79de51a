"""Two-step sign-in: time-based codes (TOTP, RFC 6238) and single-use recovery codes.

ASVS 4.3.1 (administrative interfaces use multi-factor authentication), 2.8.1 (codes live one
step either side of now), 2.8.4/2.8.5 (a code is accepted once; a replay is refused and logged by
the caller), 2.6.1/2.6.2 (recovery codes are single-use, random, and stored salted and hashed).

Where the secret lives:

- A person starts enrolment with their current password (ASVS 3.7.1; Zammad CVE-2025-32359): a
  new secret is created here and kept server-side, sealed, in `user_account.totp_pending_secret`.
  The session cookie never carries it: Flask's cookie is signed, not encrypted, so whatever it holds
  is readable by whoever holds the cookie. Only a current code moves the secret to `totp_secret`,
  and only then is two-step sign-in on.
- "Sealed": encrypted and authenticated with keys derived from SECRET_KEY by HKDF-SHA256 (RFC 5869):
  HMAC-SHA256 in counter mode as the key stream, then an HMAC-SHA256 tag over the version, the
  account and purpose the secret belongs to, the nonce and the ciphertext (encrypt-then-MAC). A copy
  of the database alone reveals no secret, and one account's sealed secret does not open on
  another account (copying one's own row over an administrator's gains nothing). Rotating
  SECRET_KEY makes every sealed secret unreadable, like every tracking link: those people sign in
  with a recovery code and set two-step sign-in up again, or an administrator resets it.

How replay is stopped: the account keeps the last time step a code was accepted for, and a code is
accepted only for a later step, by one conditional UPDATE — two requests racing with one code
cannot both pass. The code that confirms enrolment counts as used too.

No Flask here: the SECRET_KEY-derived key (`sealing_key`) and the clock arrive as arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.domain.errors import DomainError, NotPermitted
from portal.domain.permissions import Role
from portal.models import RecoveryCode, User
from portal.services.accounts import WrongPassword

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of now: a phone's clock may be up to ~30 s off
RECOVERY_CODES = 10
# 31 symbols without the look-alikes 0/o, 1/l/i; 16 of them are about 79 bits (ASVS 2.6.2:
# under 112 bits, so each is stored with a random salt).
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 16

_SEAL_VERSION = "v1"
_NONCE_BYTES = 16
_TAG_BYTES = 32


class WrongCode(DomainError):
    """The code is not a current one for this account; `reason` says why (for the audit row)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "wrong", "replayed" or "unreadable" (the key changed)


class NotEnrolling(DomainError):
    """A code to confirm was sent, but no set-up was started (or it already finished)."""


class AlreadyOn(DomainError):
    """Two-step sign-in is already on for this account."""


class NothingToReset(DomainError):
    """The account has no two-step sign-in (on or being set up) to reset."""


class UnreadableSecret(DomainError):
    """A sealed secret failed its check: another key (SECRET_KEY rotated) or a changed row."""


# --- which roles must use it --------------------------------------------------------------------


def required_roles(portal_env: str, setting: str | None) -> frozenset[str]:
    """The roles that must use two-step sign-in: the setting, or by default administrators in
    production and nobody elsewhere."""
    if setting is None:
        return frozenset({Role.ADMIN.value}) if portal_env == "production" else frozenset()
    return frozenset(part.strip() for part in setting.split(",") if part.strip())


def must_enrol(user: User, roles: frozenset[str]) -> bool:
    """The account's role requires two-step sign-in and it is not on yet."""
    return user.role in roles and not user.two_factor_on


# --- sealing the secret at rest -------------------------------------------------------------------


@dataclass(frozen=True)
class SealingKey:
    encrypt: bytes
    authenticate: bytes


def _hkdf(key_material: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with a fixed salt, then expand for `info`."""
    prk = hmac.new(b"complaint-portal/two-factor", key_material, hashlib.sha256).digest()
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


def sealing_key(secret_key: str) -> SealingKey:
    """Two independent keys from the application's SECRET_KEY: one encrypts, one authenticates."""
    material = secret_key.encode("utf-8")
    return SealingKey(
        encrypt=_hkdf(material, b"totp-secret/encrypt/v1"),
        authenticate=_hkdf(material, b"totp-secret/authenticate/v1"),
    )


def _key_stream(key: SealingKey, nonce: bytes, length: int) -> bytes:
    blocks = (length + 31) // 32
    stream = b"".join(
        hmac.new(key.encrypt, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        for counter in range(blocks)
    )
    return stream[:length]


def _tag(key: SealingKey, bound_to: str, nonce: bytes, ciphertext: bytes) -> bytes:
    header = f"{_SEAL_VERSION}|{bound_to}|".encode()
    return hmac.new(key.authenticate, header + nonce + ciphertext, hashlib.sha256).digest()


def seal(plaintext: str, key: SealingKey, bound_to: str) -> str:
    """Encrypt and authenticate `plaintext` for one account and purpose (`bound_to`)."""
    data = plaintext.encode("utf-8")
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = bytes(a ^ b for a, b in zip(data, _key_stream(key, nonce, len(data)), strict=True))
    packed = nonce + ciphertext + _tag(key, bound_to, nonce, ciphertext)
    return f"{_SEAL_VERSION}${base64.urlsafe_b64encode(packed).decode('ascii')}"


def unseal(sealed: str, key: SealingKey, bound_to: str) -> str:
    """The plaintext `seal` was given, or UnreadableSecret when the tag does not match."""
    version, _sep, body = sealed.partition("$")
    try:
        packed = base64.urlsafe_b64decode(body.encode("ascii"))
    except (ValueError, UnicodeError) as error:
        raise UnreadableSecret("not a sealed value") from error
    if version != _SEAL_VERSION or len(packed) < _NONCE_BYTES + _TAG_BYTES:
        raise UnreadableSecret("not a sealed value")
    nonce, ciphertext, tag = packed[:_NONCE_BYTES], packed[_NONCE_BYTES:-_TAG_BYTES], packed[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, bound_to, nonce, ciphertext)):
        raise UnreadableSecret("the tag does not match")
    stream = _key_stream(key, nonce, len(ciphertext))
    return bytes(a ^ b for a, b in zip(ciphertext, stream, strict=True)).decode("utf-8")


def _bound(user: User, purpose: str) -> str:
    return f"user:{user.id}:{purpose}"


def pending_secret(user: User, key: SealingKey) -> str | None:
    """The secret being set up, for the QR code and the text to type in; None if there is none."""
    if user.totp_pending_secret is None:
        return None
    try:
        return unseal(user.totp_pending_secret, key, _bound(user, "pending"))
    except UnreadableSecret:
        return None


def active_secret(user: User, key: SealingKey) -> str:
    """The secret that is on; UnreadableSecret if SECRET_KEY changed since it was sealed."""
    if user.totp_secret is None:
        raise UnreadableSecret("two-step sign-in is off")
    return unseal(user.totp_secret, key, _bound(user, "active"))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


# --- codes ----------------------------------------------------------------------------------------


def _digits(code: str) -> str | None:
    compact = "".join(code.split())
    return compact if len(compact) == DIGITS and compact.isascii() and compact.isdigit() else None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, or one either side) whose code this is, or None (ASVS 2.8.1).

    Every candidate is compared in constant time, and all of them, whichever matches.
    """
    digits = _digits(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            found = step
    return found


def _normal_recovery_code(code: str) -> str | None:
    compact = "".join(ch for ch in code.lower() if ch not in " -")
    if len(compact) != RECOVERY_LENGTH or any(ch not in RECOVERY_ALPHABET for ch in compact):
        return None
    return compact


def _recovery_hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode("ascii")).hexdigest()


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    """Replace the account's recovery codes with new ones; return them as shown to the person."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    shown = []
    for _n in range(RECOVERY_CODES):
        code = "".join(secrets.choice(RECOVERY_ALPHABET) for _i in range(RECOVERY_LENGTH))
        salt = secrets.token_hex(16)
        session.add(
            RecoveryCode(user_id=user.id, salt=salt, code_hash=_recovery_hash(salt, code), created_at=now)
        )
        shown.append("-".join(code[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return shown


def _use_totp(session: Session, user: User, code: str, now: datetime, key: SealingKey) -> None:
    try:
        secret = active_secret(user, key)
    except UnreadableSecret as error:
        raise WrongCode("unreadable") from error
    step = matching_step(secret, code, now)
    if step is None:
        raise WrongCode("wrong")
    # Accepted only for a step later than the last one: the same code twice, or an older one after
    # a newer, is a replay (ASVS 2.8.4). One conditional UPDATE, so a race has one winner.
    accepted = session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if accepted.rowcount != 1:  # type: ignore[attr-defined]
        raise WrongCode("replayed")
    set_committed_value(user, "totp_last_step", step)


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> None:
    normal = _normal_recovery_code(code)
    if normal is None:
        raise WrongCode("wrong")
    rows = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    match = None
    for row in rows:  # every one compared, in constant time
        if hmac.compare_digest(row.code_hash, _recovery_hash(row.salt, normal)):
            match = row
    if match is None:
        raise WrongCode("wrong")
    if match.used_at is not None:
        raise WrongCode("replayed")  # ASVS 2.6.1: used once, then never again
    used = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise WrongCode("replayed")  # another request used it a moment ago
    set_committed_value(match, "used_at", now)


def _use_code(session: Session, user: User, code: str, now: datetime, key: SealingKey) -> str:
    """Accept a current code or an unused recovery code (and spend it); say which it was."""
    if _digits(code) is not None:
        _use_totp(session, user, code, now, key)
        return "totp"
    _use_recovery_code(session, user, code, now)
    return "recovery"


# --- the use-cases --------------------------------------------------------------------------------


def start(session: Session, user: User, password: str, *, key: SealingKey) -> None:
    """Begin setting up: the current password first, then a new secret, kept server-side."""
    if not user.check_password(password):
        raise WrongPassword("current password does not match")
    if user.two_factor_on:
        raise AlreadyOn("two-step sign-in is already on")
    user.totp_pending_secret = seal(pyotp.random_base32(), key, _bound(user, "pending"))
    session.commit()


def confirm(session: Session, user: User, code: str, *, now: datetime, key: SealingKey) -> list[str]:
    """A current code proves the app holds the secret: two-step sign-in is on from now.

    Returns the new recovery codes, to be shown once. Every other session of the account ends
    (a session opened with the password alone before this is not trusted after it).
    """
    if user.two_factor_on:
        raise AlreadyOn("two-step sign-in is already on")
    secret = pending_secret(user, key)
    if secret is None:
        raise NotEnrolling("no set-up was started")
    step = matching_step(secret, code, now)
    if step is None:
        raise WrongCode("wrong")
    user.totp_secret = seal(secret, key, _bound(user, "active"))
    user.totp_pending_secret = None
    user.totp_last_step = step  # the confirming code cannot then sign anybody in
    user.totp_enabled_at = now
    codes = _new_recovery_codes(session, user, now)
    user.session_version = (user.session_version or 0) + 1
    session.commit()
    return codes


def check_sign_in_code(session: Session, user: User, code: str, *, now: datetime, key: SealingKey) -> str:
    """The second step of signing in: accept and spend a code; "totp" or "recovery"."""
    if not user.two_factor_on:
        raise WrongCode("wrong")
    how = _use_code(session, user, code, now, key)
    session.commit()
    return how


def disable(session: Session, user: User, password: str, code: str, *, now: datetime, key: SealingKey) -> str:
    """Turn one's own two-step sign-in off — the current password and a current code (D8, ASVS
    3.7.1) — or stop a set-up not confirmed yet (nothing is protected by it: no proof needed).

    Returns "off" or "cancelled".
    """
    if user.two_factor_on:
        if not user.check_password(password):
            raise WrongPassword("current password does not match")
        _use_code(session, user, code, now, key)
        outcome = "off"
    elif user.totp_pending_secret is not None:
        outcome = "cancelled"
    else:
        raise NothingToReset("two-step sign-in is off")
    _clear(session, user)
    session.commit()
    return outcome


def reset(session: Session, actor: User, user: User) -> None:
    """An administrator clears another person's two-step sign-in; they are signed out everywhere
    and set it up again at their next sign-in. Never one's own: that is `disable`, with a code."""
    if actor.role != Role.ADMIN:
        raise NotPermitted("administrators only")
    if actor.id == user.id:
        raise NotPermitted("own account")
    if user.totp_secret is None and user.totp_pending_secret is None:
        raise NothingToReset("nothing to reset")
    _clear(session, user)
    user.session_version = (user.session_version or 0) + 1
    session.commit()


def _clear(session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_last_step = None
    user.totp_enabled_at = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
