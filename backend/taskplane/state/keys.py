"""The Redis key layout: the only code that builds a key. docs/redis.md mirrors it.

Every key starts with the configured prefix (TASKPLANE_REDIS_PREFIX), so several deployments
or test runs can share one Redis. Owners (the only code that names a key; everyone else calls
their functions) are named per key; tests/state/test_key_owners.py holds them to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskplane.enums import ScheduleStatus


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str  # e.g. "taskplane:"

    # --- schedule state (owner: state/schedule_state.py) -------------------------------
    def schedule(self, config_id: int) -> str:
        """hash: status, note, status_at, metadata, counters (owner: the state service), and
        ``r``, the config's registration (owner: scheduling/core.py)."""
        return f"{self.prefix}schedule:{config_id}"

    def history(self, config_id: int) -> str:
        """list of JSON events, newest first (LPUSH), capped (LTRIM), with a TTL."""
        return f"{self.prefix}history:{config_id}"

    def by_status(self, status: ScheduleStatus) -> str:
        """set of config ids with that status: summaries and filters without KEYS."""
        return f"{self.prefix}schedules:{status}"

    @property
    def all_schedules(self) -> str:
        """set of every config id that has schedule state."""
        return f"{self.prefix}schedules:all"

    # --- audit trail (owner: state/audit.py) --------------------------------------------
    @property
    def audit(self) -> str:
        """stream of audit entries (field 'e': JSON); the entry id is the audit id; capped
        by count and age."""
        return f"{self.prefix}audit"

    def audit_by_config(self, config_id: int) -> str:
        """stream index of a config's audit entries (same ids, field 'a': the actor)."""
        return f"{self.prefix}audit:config:{config_id}"

    def audit_by_actor(self, actor: str) -> str:
        """stream index of an actor's audit entries (same ids, field 'c': the config id)."""
        return f"{self.prefix}audit:actor:{actor}"

    @property
    def paused_until(self) -> str:
        """zset: member = config id, score = epoch ms at which its pause ends by itself
        (``pause`` with ``until``); the hash's ``paused_until`` field is the truth, an entry
        it does not match is stale and dropped when read (owners: state/schedule_state.py,
        whose status scripts write it, and state/pause_timer.py, which reads it for the
        scheduler's ``scheduling/pause_ends.py``)."""
        return f"{self.prefix}paused-until"

    @property
    def events(self) -> str:
        """pub/sub channel (not a key: nothing is stored) of live events, JSON
        {type: schedule|execution, ...}; published with the changes, read by GET /events."""
        return f"{self.prefix}events"

    # --- requested skips (owner: state/skips.py; the read model reads a config's) -------
    def skips(self, config_id: int) -> str:
        """hash: due epoch ms -> note ('' none) of each upcoming fire skipped on request;
        past ones are pruned as they pass (the engine) and on every change."""
        return f"{self.prefix}skips:{config_id}"

    @property
    def skipping(self) -> str:
        """set of the config ids that have requested skips (the engine loads only these)."""
        return f"{self.prefix}skips:configs"

    @property
    def skips_version(self) -> str:
        """string: a counter every skip / unskip increments; the fire script compares it with
        the engine's, which reloads the skips when they differ."""
        return f"{self.prefix}skips:version"

    # --- registered schedules (owner: scheduling/core.py; the fire script advances `due`) -
    # A registration is field ``r`` of its config's state hash (``schedule``: core owns that
    # field) and its shared shape (``scheduling/registration_store.py``).
    @property
    def registration_shapes(self) -> str:
        """hash: shape id -> shape text, the part of registration texts configs share."""
        return f"{self.prefix}reg:shapes"

    @property
    def registration_refs(self) -> str:
        """hash: shape id -> how many registrations hold it (the shape goes with its last)."""
        return f"{self.prefix}reg:refs"

    @property
    def layout(self) -> str:
        """string: the key layout's version, written once the keys of earlier layouts are
        deleted (``core.drop_legacy``, at reconcile)."""
        return f"{self.prefix}layout"

    @property
    def schedule_source_prefix(self) -> str:
        """prefix of an earlier layout's keys (deleted at reconcile, ``core.drop_legacy``):
        '{p}source:data:{schedule_id}' (a registration text each) and the lists below."""
        return f"{self.prefix}source"

    def source_data(self, schedule_id: str) -> str:
        """an earlier layout's registration key (deleted at reconcile)."""
        return f"{self.schedule_source_prefix}:data:{schedule_id}"

    @property
    def source_cron(self) -> str:
        """an earlier version's list of the ids of cron schedules (deleted at reconcile)."""
        return f"{self.schedule_source_prefix}:cron"

    @property
    def source_interval(self) -> str:
        """an earlier version's list of the ids of interval schedules (deleted at reconcile)."""
        return f"{self.schedule_source_prefix}:interval"

    def source_time(self, minute_utc: str) -> str:
        """an earlier version's list of date schedule ids of that minute (deleted at reconcile)."""
        return f"{self.schedule_source_prefix}:time:{minute_utc}"

    def schedule_lock(self, config_id: int) -> str:
        """string: token of the control action in progress on a config, with a PX lease
        (owner: scheduling/locking.py); serializes start/stop/pause/... per config."""
        return f"{self.prefix}lock:schedule:{config_id}"

    @property
    def due(self) -> str:
        """zset: member = config id, score = next due time in epoch milliseconds (a jittered
        schedule's: the time its next due is sent, the due itself in ``jittered_dues``)."""
        return f"{self.prefix}due"

    def backfill_claim(self, config_id: int, due_ms: int) -> str:
        """string, with a TTL: a backfill sent the run of this due time (owner:
        scheduling/backfill.py; SET NX in the script that sends it, so overlapping backfills
        send each due time once)."""
        return f"{self.prefix}backfill:{config_id}:{due_ms}"

    @property
    def jittered_dues(self) -> str:
        """hash: config id -> the due epoch ms whose send time (due + jitter) is the config's
        score in ``due``; valid only while it is (a stale entry is ignored)."""
        return f"{self.prefix}due:jittered"

    # --- running executions (owner: state/running.py; the recorder writes, overlap reads) -
    def running(self, config_id: int) -> str:
        """set of task ids of the config now executing, with a TTL as a safety net."""
        return f"{self.prefix}running:{config_id}"

    @property
    def running_runs(self) -> str:
        """hash: task id -> JSON of the attempt running now (config id, attempt, started_at,
        trigger, worker): the index of every running set, so listing them scans no keys."""
        return f"{self.prefix}running_runs"

    # --- broker (owner: messages.py; read by the taskiq-redis RedisStreamBroker) ---------
    @property
    def broker_stream_prefix(self) -> str:
        return f"{self.prefix}queue:"

    def broker_stream(self, queue: str) -> str:
        """stream of one queue; consumer group 'taskplane'."""
        return f"{self.broker_stream_prefix}{queue}"

    # --- recorder buffer (owner: worker/recorder.py) -----------------------------------
    @property
    def recorder_buffer(self) -> str:
        """stream of execution records waiting for PostgreSQL (durable buffer): each entry
        has one field 'r', the JSON record; deleted (XDEL) once the row is committed."""
        return f"{self.prefix}recorder:buffer"

    @property
    def recorder_flush_lock(self) -> str:
        """string: id of the worker flushing the buffer now, with a PX lease."""
        return f"{self.prefix}recorder:flush-lock"

    def execution_claim(self, task_id: str, attempt: int) -> str:
        """string 'run:{worker}' while an attempt runs, 'done:{worker}' once recorded; with a
        TTL. A second delivery of one (task id, attempt) is skipped, never run twice."""
        return f"{self.prefix}claim:{task_id}:{attempt}"

    # --- retries (owners: worker/limits.py, worker/recorder.py) -------------------------
    @property
    def retry_delayed(self) -> str:
        """zset: member = JSON {queue, body} of a retry message, score = due epoch ms."""
        return f"{self.prefix}retry:delayed"

    # --- processes (owners: the scheduler / worker processes) --------------------------
    @property
    def scheduler_leader(self) -> str:
        """string: id of the leading scheduler instance, with a PX lease."""
        return f"{self.prefix}scheduler:leader"

    @property
    def scheduler_instances(self) -> str:
        """hash: instance id -> JSON heartbeat {id, heartbeat_at, is_leader, ...}."""
        return f"{self.prefix}scheduler:instances"

    @property
    def workers(self) -> str:
        """hash: worker id -> JSON heartbeat {id, heartbeat_at, queues, ...}."""
        return f"{self.prefix}workers"

    @property
    def workers_last_exit(self) -> str:
        """string: JSON {id, exited_at, reason} of the last worker that withdrew its
        heartbeat (health: since when no worker runs)."""
        return f"{self.prefix}workers:last-exit"

    @property
    def scheduler_last_exit(self) -> str:
        """string: JSON {id, exited_at, reason} of the last scheduler instance that withdrew
        its heartbeat."""
        return f"{self.prefix}scheduler:last-exit"

    # --- api tokens (owner: api/token_cache.py) -----------------------------------------
    @property
    def token_generation(self) -> str:
        """string: a random value every token revocation replaces; an api process uses a
        remembered token lookup only under the value it was made under."""
        return f"{self.prefix}auth:token-generation"

    # --- alerts (owner: alerts/store.py; the worker's claim script marks starts through
    # the keys the store hands out) ----------------------------------------------------
    @property
    def alert_configs(self) -> str:
        """hash: config id -> JSON {name, late_after_seconds, failures_in_row} of every
        config with an alert set: the detector examines these, never every schedule."""
        return f"{self.prefix}alerts:configs"

    @property
    def alert_late_checks(self) -> str:
        """zset: member = config id, score = when (epoch ms) its watched due time turns late."""
        return f"{self.prefix}alerts:late-checks"

    @property
    def alert_watched_due(self) -> str:
        """hash: config id -> the due time (epoch ms) the late check watches."""
        return f"{self.prefix}alerts:watched-due"

    @property
    def alert_started(self) -> str:
        """hash: config id -> the latest start mark (epoch ms: a scheduled run's due time,
        else its start), written by the worker's claim script for alerting configs only."""
        return f"{self.prefix}alerts:started"

    @property
    def alert_open(self) -> str:
        """hash: '{config_id}:{kind}' -> JSON of the open incident (one per config and kind)."""
        return f"{self.prefix}alerts:open"

    @property
    def alert_incidents(self) -> str:
        """hash: incident id -> JSON incident (open or resolved), capped with the log."""
        return f"{self.prefix}alerts:incidents"

    @property
    def alert_log(self) -> str:
        """zset: member = score = incident id: the incidents newest first (GET /alerts)."""
        return f"{self.prefix}alerts:log"

    @property
    def alert_next_id(self) -> str:
        """string: the last incident id given (INCR; ids are never reused)."""
        return f"{self.prefix}alerts:next-id"

    @property
    def alert_outbox(self) -> str:
        """hash: '{incident}:{state}:{url index}' -> JSON delivery {url, body, ...} waiting."""
        return f"{self.prefix}alerts:outbox"

    @property
    def alert_outbox_due(self) -> str:
        """zset: member = an outbox field, score = its next try (epoch ms)."""
        return f"{self.prefix}alerts:outbox-due"

    @property
    def alert_lease(self) -> str:
        """string: id of the process running the alert loop now, with a PX lease."""
        return f"{self.prefix}alerts:lease"
