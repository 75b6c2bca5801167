"""``logs.redact`` over generated URLs: no form of a password or a secret query parameter
survives (the dev banner and every log line go through it)."""

from __future__ import annotations

import string
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from taskplane.logs import redact

PLAIN = string.ascii_lowercase + string.digits
MARK = "ZQX"  # in every generated secret, never in the rest of a URL (all lowercase)

schemes = st.sampled_from(
    ["redis", "rediss", "postgresql", "postgresql+asyncpg", "sqlite+aiosqlite", "http", "amqp"]
)
names = st.text(PLAIN, min_size=1, max_size=12)
users = st.one_of(st.just(""), names)
# a password may hold anything but whitespace, '/', '?' and '#' (those end the authority)
raw_secrets = st.text(
    st.characters(codec="ascii", categories=("L", "N", "P", "S"), exclude_characters="/?#"),
    max_size=16,
).map(lambda s: MARK + s)
secrets = st.one_of(raw_secrets, raw_secrets.map(lambda s: quote(s, safe="")))
params = st.sampled_from(["password", "PASSWORD", "pwd", "token", "access_token", "api_key"])


@given(schemes, users, secrets, names, st.integers(1, 65535), names)
def test_a_url_password_never_survives(
    scheme: str, user: str, secret: str, host: str, port: int, path: str
) -> None:
    url = f"{scheme}://{user}:{secret}@{host}:{port}/{path}"
    out = redact(f"connecting to {url} now")
    assert MARK not in out, out
    assert f"{host}:{port}/{path}" in out  # where it goes stays readable
    assert out.endswith(" now")


@given(schemes, names, params, raw_secrets.map(lambda s: quote(s, safe="")), st.booleans())
def test_a_secret_query_parameter_never_survives(
    scheme: str, host: str, param: str, secret: str, is_first: bool
) -> None:
    query = f"{param}={secret}&db=1" if is_first else f"db=1&{param}={secret}"
    out = redact(f"{scheme}://{host}/0?{query}")
    assert MARK not in out, out
    assert "db=1" in out


def test_the_dev_banners_redis_url_without_a_user_is_redacted() -> None:
    assert redact("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"


def test_urls_without_secrets_are_unchanged() -> None:
    for url in ("redis://cache:6379/0", "http://h/p?a=1&b=2", "postgresql://user@h/db"):
        assert redact(url) == url
