"""`taskplane token create|list|revoke`: API tokens, stored as a hash; shown once."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from taskplane.cli.output import console
from taskplane.cli.stack import settings_for_command
from taskplane.enums import Role
from taskplane.settings import Settings

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


async def _create(settings: Settings, name: str, role: Role) -> dict[str, Any]:
    from taskplane import auth
    from taskplane.cli.services import open_database
    from taskplane.db.tokens import token_details
    from taskplane.state.audit import TOKEN_CREATED

    async with open_database(settings) as sessions:
        async with sessions() as session, session.begin():
            row, plaintext = await auth.create_token(session, name, role)
        details = token_details(row)
    await _audit(settings, TOKEN_CREATED, details)
    return {"id": row.id, "name": row.name, "role": str(row.role), "token": plaintext}


async def _audit(settings: Settings, action: str, details: dict[str, Any]) -> None:
    """The audit entry of a token change made by this command (after its commit)."""
    from taskplane.actors import CLI
    from taskplane.redis_clients import make_redis
    from taskplane.state.audit import AuditLog
    from taskplane.state.keys import Keys

    redis = make_redis(settings, pool_size=2)
    try:
        audit = AuditLog.from_settings(redis, Keys(settings.redis_prefix), settings)
        await audit.record(CLI, action, None, None, details=details)
    finally:
        await redis.aclose()


async def _list(settings: Settings) -> list[dict[str, Any]]:
    from taskplane.cli.services import open_database
    from taskplane.db import tokens

    rows: list[dict[str, Any]] = []
    async with open_database(settings) as sessions, sessions() as session:
        offset = 0
        while True:
            page = await tokens.list_page(session, limit=500, offset=offset)
            rows += [
                {
                    "id": t.id,
                    "name": t.name,
                    "role": str(t.role),
                    "created_at": _iso(t.created_at),
                    "last_used_at": _iso(t.last_used_at),
                    "revoked_at": _iso(t.revoked_at),
                }
                for t in page.items
            ]
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return rows


async def _revoke(settings: Settings, token_id: int) -> None:
    """Revoke between two new token generations (api/token_cache.py): every api replica
    refuses the token from its next request on."""
    from taskplane.api.token_cache import revoked
    from taskplane.cli.services import open_database
    from taskplane.db import tokens
    from taskplane.redis_clients import make_redis
    from taskplane.state.audit import TOKEN_REVOKED
    from taskplane.state.keys import Keys

    redis = make_redis(settings, pool_size=2)
    done: list[dict[str, Any]] = []
    try:
        async with open_database(settings) as sessions:

            async def revoke() -> None:
                async with sessions() as session, session.begin():
                    done.append(tokens.token_details(await tokens.revoke(session, token_id)))

            await revoked(redis, Keys(settings.redis_prefix), revoke)
    finally:
        await redis.aclose()
    await _audit(settings, TOKEN_REVOKED, done[0])


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who or what the token is for")],
    role: Annotated[Role, typer.Option(help="admin (everything) or viewer (read only)")] = (
        Role.VIEWER
    ),
    as_json: JsonFlag = False,
) -> None:
    """Create a token; the secret is printed this once and never again."""
    created = asyncio.run(_create(settings_for_command(), name, role))
    if as_json:
        console.print_json(json.dumps(created))
        return
    console.print(f"token {created['id']} ({created['name']}, {created['role']}):")
    console.print(created["token"], markup=False)
    console.print("Store it now: it is not shown again.", style="dim")


@app.command("list")
def list_tokens(as_json: JsonFlag = False) -> None:
    """List tokens (never their secret)."""
    rows = asyncio.run(_list(settings_for_command()))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("id", "name", "role", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["name"],
            row["role"],
            row["created_at"] or "",
            row["last_used_at"] or "-",
            row["revoked_at"] or "-",
        )
    console.print(table)


@app.command("revoke")
def revoke(token_id: Annotated[int, typer.Argument(min=1, help="token id")]) -> None:
    """Revoke a token: it is refused from the next request on."""
    asyncio.run(_revoke(settings_for_command(), token_id))
    console.print(f"token {token_id} revoked")
