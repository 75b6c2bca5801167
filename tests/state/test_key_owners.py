"""Each Redis key family is read and written only through its owner's functions.

ARCHITECTURE.md names one owner per kind of data; this keeps the code honest about it. The
sources under backend/taskplane are read with ``ast``: every use of a ``Keys`` member
(``keys.due``, ``self.keys.history(cid)``, ``Keys.workers`` ...) must be in a module that
owns that family. Any other code asks the owner: a function of its module, a method of its
service, or (for an atomic script across families) the key or Lua fragment the owner hands
out. docs/internals.md ("Who owns which Redis keys") mirrors this table.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from taskplane.state.keys import Keys

PACKAGE = Path(__file__).resolve().parents[2] / "backend" / "taskplane"

OWNERS: dict[str, set[str]] = {
    # schedule state: status, note, counters, index sets, history (the read model's reads,
    # scheduling/info_reads.py, read a page's hashes and histories in its one round trip)
    "schedule": {
        "state/schedule_state.py",
        "state/state_reads.py",
        "state/state_parts.py",
        "scheduling/info_reads.py",
        "state/pause_timer.py",
        "scheduling/core.py",  # its field ``r``: a registration (``registration_store``)
    },
    "history": {
        "state/schedule_state.py",
        "state/state_reads.py",
        "state/state_parts.py",
        "scheduling/info_reads.py",
    },
    "by_status": {"state/schedule_state.py", "state/state_reads.py", "state/state_parts.py"},
    "all_schedules": {"state/schedule_state.py", "state/state_reads.py", "state/state_parts.py"},
    # the audit trail and its indexes (written by the state's scripts through the keys
    # state/audit.py hands out, read by its pages)
    "audit": {"state/audit.py", "state/audit_pages.py"},
    "audit_by_config": {"state/audit.py", "state/audit_pages.py"},
    "audit_by_actor": {"state/audit.py", "state/audit_pages.py"},
    # the pause timer's index (the scheduler reads it through the state service)
    "paused_until": {"state/schedule_state.py", "state/state_parts.py", "state/pause_timer.py"},
    # registered schedules and the due index (the engine's fire script advances `due`
    # through the key core hands out: core.due_key; the read model's reads read a page's
    # registrations and due scores)
    "schedule_source_prefix": {"scheduling/core.py"},
    "source_data": {"scheduling/core.py"},
    "registration_shapes": {"scheduling/core.py", "scheduling/info_reads.py"},
    "registration_refs": {"scheduling/core.py"},
    "layout": {"scheduling/core.py"},
    "source_cron": {"scheduling/core.py"},
    "source_interval": {"scheduling/core.py"},
    "source_time": {"scheduling/core.py"},
    "due": {"scheduling/core.py", "scheduling/info_reads.py"},
    "schedule_lock": {"scheduling/locking.py"},
    # a backfill's per-(config, due time) send marker
    "backfill_claim": {"scheduling/backfill.py"},
    # a jittered score's due time: core tidies it, the engine's fire script records it
    # through the key core hands out (core.jittered_key); the read model reads a page's
    "jittered_dues": {"scheduling/core.py", "scheduling/info_reads.py"},
    # requested skips (the engine's copy and the fire script's version check go through
    # the store; the read model reads a config's)
    "skips": {"state/skips.py", "scheduling/info_reads.py"},
    "skipping": {"state/skips.py"},
    "skips_version": {"state/skips.py"},
    # running executions (written by the recorder's scripts, read by the overlap check)
    "running": {"state/running.py"},
    "running_runs": {"state/running.py"},
    # broker streams: the run-message contract
    "broker_stream": {"messages.py"},
    "broker_stream_prefix": {"messages.py"},
    # the recorder's buffer (the flusher drains it under its lease) and the per-attempt claims
    "recorder_buffer": {"worker/recorder.py", "worker/flusher.py"},
    "recorder_flush_lock": {"worker/flusher.py"},
    "execution_claim": {"worker/recorder.py"},
    # delayed retries: the recorder adds one in the script that records the attempt
    "retry_delayed": {"worker/limits.py", "worker/recorder.py"},
    # processes: leadership and heartbeats
    "scheduler_leader": {"state/heartbeats.py"},
    "scheduler_instances": {"state/heartbeats.py"},
    "scheduler_last_exit": {"state/heartbeats.py"},
    "workers": {"state/heartbeats.py", "worker/heartbeat.py"},
    "workers_last_exit": {"state/heartbeats.py", "worker/heartbeat.py"},
    # the token generation: every revocation replaces it (api processes' token lookups)
    "token_generation": {"api/token_cache.py"},
    # alerts: settings, late checks, start marks (the worker's claim script writes them
    # through the keys alerts/store.py hands out), incidents, the webhook outbox, the lease
    **{
        family: {"alerts/store.py"}
        for family in (
            "alert_configs",
            "alert_late_checks",
            "alert_watched_due",
            "alert_started",
            "alert_open",
            "alert_incidents",
            "alert_log",
            "alert_next_id",
            "alert_outbox",
            "alert_outbox_due",
            "alert_lease",
        )
    },
    # live events: a pub/sub channel, nothing stored; each owner publishes its own changes
    # (state/events.py formats them), the api subscribes
    "events": {
        "state/events.py",
        "state/schedule_state.py",
        "state/state_parts.py",
        "worker/recorder.py",
        "worker/flusher.py",
        "api/app.py",
    },
}


def key_families() -> set[str]:
    """Every key ``Keys`` can build (its methods and properties)."""
    return {
        name
        for name, member in inspect.getmembers(Keys)
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    }


def _is_keys(node: ast.expr) -> bool:
    """``keys``, ``self.keys``, ``resources.keys``, ``Keys`` ..."""
    if isinstance(node, ast.Name):
        return node.id.lower().endswith("keys")
    if isinstance(node, ast.Attribute):
        return node.attr.lower().endswith("keys")
    return False


def uses(source: str, families: set[str]) -> set[str]:
    """The key families a module's code names (docstrings and comments are not code)."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in families and _is_keys(node.value)
    }


def test_every_key_family_has_an_owner() -> None:
    assert key_families() - {"prefix"} == set(OWNERS)


def test_the_scan_finds_uses_in_code_only() -> None:
    source = '"""Keys.due in a docstring"""\nx = self.keys.history(1)\ny = keys.due\nz = obj.due\n'
    assert uses(source, {"due", "history"}) == {"history", "due"}
    assert uses('"""Keys.due"""\n# keys.due\n', {"due"}) == set()


def test_each_key_family_is_named_only_by_its_owners() -> None:
    families = set(OWNERS)
    strays = sorted(
        (family, str(path.relative_to(PACKAGE)))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() != "state/keys.py"
        for family in uses(path.read_text(), families)
        if path.relative_to(PACKAGE).as_posix() not in OWNERS[family]
    )
    assert strays == [], "use the owner's functions (see OWNERS)"
