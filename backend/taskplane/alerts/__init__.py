"""Alerts: ``late`` and ``failing`` incidents per config, their history events and webhooks."""
