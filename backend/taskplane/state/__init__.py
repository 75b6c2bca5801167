"""Redis: live schedule state, history, counters, heartbeats. The key layout is in keys.py."""
