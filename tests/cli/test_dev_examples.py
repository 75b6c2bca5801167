"""The example configs of `taskplane dev --example` are data (``cli/examples.json``, shipped
in the package); each is a config the API accepts, checked by the API's own validation."""

from __future__ import annotations

import json

from taskplane.api.schemas.configs import ConfigCreate
from taskplane.cli.dev import load_examples
from taskplane.scheduling.config_service import validate_config
from taskplane.settings import Settings
from taskplane.tasks.registry import load_registry

BASE_URL = "http://127.0.0.1:8123"


def test_every_example_is_a_config_the_api_accepts() -> None:
    registry = load_registry(Settings(_env_file=None))
    examples = load_examples(BASE_URL)
    assert [e.config["name"] for e in examples] == [
        "example-echo-every-30s",
        "example-health-check-every-minute",
        "example-manual-sleep",
    ]
    assert [e.auto_start for e in examples] == [True, True, False]
    for example in examples:
        body = ConfigCreate.model_validate(example.config)
        validate_config(
            registry,
            task_type=body.task_type,
            scheduler_type=body.scheduler_type,
            schedule_config=body.schedule_config,
            parameters=body.parameters,
        )


def test_the_run_address_replaces_the_placeholder() -> None:
    text = json.dumps([e.config for e in load_examples(BASE_URL)])
    assert "{base_url}" not in text
    assert f"{BASE_URL}/api/v1/system/health" in text
