"""`taskplane export` and `taskplane apply -f FILE`: schedules as code from the shell, through
the same service as ``GET /configs/export`` / ``POST /configs/apply``
(``scheduling/as_code.py``); a file is checked with the api's own ``ApplyBody``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from taskplane.cli.output import CliError, console, run_async
from taskplane.cli.stack import settings_for_command
from taskplane.settings import Settings

if TYPE_CHECKING:
    from taskplane.scheduling.as_code import ApplyReport


class Format(StrEnum):
    YAML = "yaml"
    JSON = "json"


def dumped(document: dict[str, Any], format: Format) -> str:
    """The export as a file's text: YAML (keys in the export's order; a mapping or list of
    plain values on one line, as one would write it by hand) or JSON (indented)."""
    if format is Format.JSON:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def loaded(text: str) -> Any:
    """A file's document, JSON or YAML by its content (JSON starts with ``{`` or ``[``).
    YAML's own timestamps and dates (an unquoted ``2026-12-24``) become ISO text, as they
    would be in JSON."""
    stripped = text.lstrip()
    try:
        if stripped.startswith(("{", "[")):
            return json.loads(text)
        return json.loads(json.dumps(yaml.safe_load(text), default=_iso))
    except (ValueError, yaml.YAMLError, TypeError) as exc:
        raise CliError(f"not a JSON or YAML document: {' '.join(str(exc).split())}") from None


def body_of(document: Any, *, prune: bool, dry_run: bool) -> Any:
    """The ``ApplyBody`` a file makes: an export document (``{"version", "configs"}``) or a
    bare list of configs, with the command's flags."""
    from taskplane.api.schemas.as_code import ApplyBody

    if isinstance(document, list):
        document = {"configs": document}
    if not isinstance(document, dict):
        raise CliError('the file holds neither {"configs": [...]} nor a list of configs')
    try:
        return ApplyBody.model_validate({**document, "prune": prune, "dry_run": dry_run})
    except ValidationError as exc:
        problems = [(e["loc"], e["msg"]) for e in exc.errors()]
        raise CliError(_problems("the file is not valid", problems)) from None


def _problems(head: str, problems: Sequence[tuple[Sequence[Any], str]]) -> str:
    """One line per invalid field (its path, as the api's ``loc`` without "body"), at most
    20 (as the api's 422)."""
    lines = [f"  {'.'.join(str(p) for p in loc)}: {msg}" for loc, msg in problems[:20]]
    return f"{head}:\n" + "\n".join(lines)


async def _export(settings: Settings) -> dict[str, Any]:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.scheduling.as_code import ConfigsAsCode

    async with open_services_for_cli(settings) as services:
        return await ConfigsAsCode(services.configs).export()


async def _apply(settings: Settings, body: Any) -> ApplyReport:
    from taskplane.actors import CLI
    from taskplane.cli.services import open_services_for_cli
    from taskplane.scheduling.as_code import ConfigsAsCode

    async with open_services_for_cli(settings) as services:
        return await ConfigsAsCode(services.configs).apply(
            body.entries(), actor=CLI, prune=body.prune, dry_run=body.dry_run
        )


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def report_lines(report: dict[str, Any]) -> list[str]:
    """The readable diff of an apply report (``ApplyReport.as_dict``)."""
    lines = [f"created    {name}" for name in report["created"]]
    for item in report["updated"]:
        lines.append(f"updated    {item['name']}")
        for field, change in item["changes"].items():
            lines.append(f"  {field}: {_short(change['from'])} -> {_short(change['to'])}")
    for change in report["status_changed"]:
        note = f" (note: {change['note']})" if change["note"] else ""
        lines.append(f"status     {change['name']}: {change['from']} -> {change['to']}{note}")
    lines.extend(f"deleted    {name}" for name in report["deleted"])
    lines.append(f"unchanged  {len(report['unchanged'])}")
    if report["dry_run"]:
        lines.append("dry run: nothing was changed")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        format: Annotated[Format, typer.Option("--format", help="yaml or json")] = Format.YAML,
    ) -> None:
        """Print every config (create fields, status, note; no ids, no times) as YAML or
        JSON: `taskplane export > schedules.yaml`. Secret parameters print as "***"."""
        document = run_async(_export(settings_for_command()))
        sys.stdout.write(dumped(document, format))

    @app.command("apply")
    def apply_command(
        file: Annotated[
            Path, typer.Option("-f", "--file", help="the YAML or JSON file ('-': stdin)")
        ],
        prune: Annotated[
            bool, typer.Option("--prune", help="delete the configs the file does not name")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="change nothing; print what would change")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    ) -> None:
        """Make the configs what FILE says, matched by name (as POST /configs/apply), and
        print what changed. Every entry is checked first: one bad entry changes nothing."""
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None
        body = body_of(loaded(text), prune=prune, dry_run=dry_run)
        from taskplane.errors import InvalidInput

        try:
            report = run_async(_apply(settings_for_command(), body)).as_dict()
        except InvalidInput as exc:
            problems = [(e.loc, e.msg) for e in exc.errors]
            raise CliError(_problems("nothing was changed", problems)) from None
        if as_json:
            console.print_json(json.dumps(report))
            return
        for line in report_lines(report):
            console.print(line, markup=False)
