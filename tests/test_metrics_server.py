"""The worker's and scheduler's /metrics servers carry no token: they listen on loopback
unless TASKPLANE_METRICS_HOST says otherwise."""

from __future__ import annotations

import psutil  # type: ignore[import-untyped]

from taskplane.embedded_redis import free_port
from taskplane.metrics import start_metrics_server
from taskplane.settings import Settings


def _listening_on(port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    }


def test_metrics_servers_bind_loopback_by_default() -> None:
    assert Settings(_env_file=None).metrics_host == "127.0.0.1"
    port = free_port()
    assert start_metrics_server(port, "worker")
    assert _listening_on(port) == {"127.0.0.1"}


def test_the_bind_address_is_a_setting() -> None:
    settings = Settings(_env_file=None, metrics_host="0.0.0.0")
    port = free_port()
    assert start_metrics_server(port, "scheduler", settings.metrics_host)
    assert _listening_on(port) == {"0.0.0.0"}
