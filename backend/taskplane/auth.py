"""API tokens: generation, SHA-256 hashing, constant-time comparison, roles.

Used by the API (every request) and the CLI (``taskplane token`` commands). A token is shown
once, when it is created; only its SHA-256 hex digest is stored (``api_token.token_hash``).

- The token in setting ``admin_token`` is an admin; it is compared in constant time.
- Other tokens are looked up by their hash (a lookup by digest reveals nothing about the
  secret through timing) and compared again in constant time; revoked tokens never match.
- ``admin`` may do everything; ``viewer`` may only read (GET / HEAD).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.db import tokens
from taskplane.db.models import ApiToken, utcnow
from taskplane.enums import Role
from taskplane.settings import Settings

TOKEN_PREFIX = "tp_"  # noqa: S105 (a marker, not a secret)
TOKEN_BYTES = 32
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is refreshed at most this often per token, so reads do not each cost a write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the settings' admin (token_id None) or a stored token."""

    name: str
    role: Role
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def generate_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token: what the database stores."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison (digests first, so lengths leak nothing either)."""
    return hmac.compare_digest(hash_token(given), hash_token(expected))


def may(role: Role, method: str) -> bool:
    """Whether ``role`` may call an endpoint with this HTTP method."""
    return role is Role.ADMIN or method.upper() in READ_METHODS


async def create_token(session: AsyncSession, name: str, role: Role) -> tuple[ApiToken, str]:
    """Create a token row (hash only); returns the row and the plaintext, shown once.

    The caller owns the transaction.
    """
    plaintext = generate_token()
    row = await tokens.create(session, name=name, role=Role(role), token_hash=hash_token(plaintext))
    return row, plaintext


ADMIN = Principal(name="admin", role=Role.ADMIN)


def is_admin_token(settings: Settings, token: str) -> bool:
    """Whether ``token`` is the settings' admin token (constant time)."""
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    return bool(admin) and tokens_equal(token, admin)


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Principal | None:
    """The principal a bearer token belongs to, or None (unknown or revoked).

    The settings' admin token needs no database. A stored token's ``last_used_at`` is
    refreshed (at most once a minute) and committed here.
    """
    if not token:
        return None
    if is_admin_token(settings, token):
        return ADMIN
    digest = hash_token(token)
    row = await tokens.find_active_by_hash(session, digest)
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    principal = Principal(name=row.name, role=Role(row.role), token_id=row.id)
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        await tokens.touch(session, row.id)
        await session.commit()
    return principal
