"""The task-runner's settings: environment, fallbacks to the shared secret settings, closed world."""

from __future__ import annotations

import os

import pytest

from services.task_runner.config import task_runner_config
from shared.runtime.settings import SettingsError


def test_defaults_and_environment() -> None:
    assert task_runner_config({}).concurrency == 4
    config = task_runner_config(
        {
            "KLT_TASK_RUNNER_CONCURRENCY": "8",
            "KLT_TASK_RUNNER_ACK_WAIT_S": "5",
            "KLT_TASK_RUNNER_HEARTBEAT_S": "1",
        }
    )
    assert (config.concurrency, config.ack_wait_s, config.heartbeat_s) == (8, 5.0, 1.0)
    assert task_runner_config({"KLT_TASK_RUNNER_CONCURRENCY": "8"}, concurrency=2).concurrency == 2


def test_secret_settings_fall_back_to_the_shared_variables() -> None:
    shared = {"KLT_SECRETS_PATHS": os.pathsep.join(["/a", "/b"]), "KLT_DEFAULT_NAMESPACE": "ns"}
    config = task_runner_config(shared)
    assert (config.secret_paths, config.default_namespace) == (("/a", "/b"), "ns")
    own = task_runner_config({**shared, "KLT_TASK_RUNNER_SECRET_PATHS": "/c"})
    assert own.secret_paths == ("/c",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KLT_TASK_RUNNER_CONCURENCY": "2"}, "unknown task-runner setting KLT_TASK_RUNNER_CONCURENCY"),
        ({"KLT_TASK_RUNNER_CONCURRENCY": "many"}, "KLT_TASK_RUNNER_CONCURRENCY='many' is not a valid int"),
        ({"KLT_TASK_RUNNER_CONCURRENCY": "0"}, "KLT_TASK_RUNNER_CONCURRENCY must be at least 1"),
        ({"KLT_TASK_RUNNER_HEARTBEAT_S": "40"}, "HEARTBEAT_S must be shorter than"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        task_runner_config(env)
