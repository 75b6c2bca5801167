"""A control action on many configs at once (``POST /schedules/bulk/{action}``,
``taskplane schedules ACTION ID...``): each id gets exactly what the single call would give
it, in the order given, and an id the single call would refuse (404 / 409 / 422) is reported
with that code without stopping the others.

Cost: a constant number of Redis round trips per chunk of ``CHUNK`` configs, whatever the
chunk's size: take every lock (one pipeline), read every status (one), register what
becomes active (two: read the old registrations, one MULTI), change every status (one
pipeline of the transition script, plus one publish), unregister what stops (two), send the
immediate runs of intervals (two), release the locks (one). Each config's change is the
single action's, under its own lock, decided by the same state machine (``decisions.py``),
with the same messages.

The rare cases take the single path, after the batch: a config whose lock is busy (the
single path waits for it), one that cannot be registered (its ``error`` status and event
come from the single path), a repeated id (its second call is the single call's no-op or
refusal, in order). A store outage ends the whole request (503); the chunks done before it
keep their changes.

Modules: ``run`` (``act_many``, ``create_many``), ``chunk`` (one chunk: ``fresh`` /
``locked``), ``prepare`` (the registrations, metadata and events of activations), ``lua``
(the scripts), ``script`` (``BulkScript``: the scripts over the owners' keys), ``report``
(``BulkReport``, ``Refused``).
"""

from taskplane.scheduling.bulk.report import BulkReport, Refused
from taskplane.scheduling.bulk.run import CHUNK, MAX_IDS, act_many, create_many

__all__ = ["CHUNK", "MAX_IDS", "BulkReport", "Refused", "act_many", "create_many"]
