"""The local Secret source: manifests read fresh, stringData over data, values never shown."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from shared.runtime.secrets import LocalSecretSource, SecretSourceError, local_secret_source


def secret_manifest(
    name: str,
    *,
    data: dict[str, str] | None = None,
    string_data: dict[str, str] | None = None,
    namespace: str = "",
) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    if data:
        lines.append("data:")
        lines += [f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in data.items()]
    if string_data:
        lines.append("stringData:")
        lines += [f"  {k}: {v!r}" for k, v in string_data.items()]
    return "\n".join(lines) + "\n"


async def test_values_are_decoded_and_string_data_wins(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        secret_manifest("creds", namespace="app", data={"SECURE_DATA": "from-data", "other": "o"},
                        string_data={"SECURE_DATA": "from-string-data"})
    )  # fmt: skip
    source = LocalSecretSource([str(tmp_path)])
    values = await source.get("app", "creds")
    assert values is not None
    assert dict(values) == {"SECURE_DATA": "from-string-data", "other": "o"}
    assert "from-string-data" not in repr(values)
    assert "from-string-data" not in str(values)
    assert await source.get("app", "missing") is None
    assert await source.get("other-ns", "creds") is None


async def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(secret_manifest("creds", namespace="app", string_data={"SECURE_DATA": "one"}))
    source = LocalSecretSource([str(path)])
    assert (await source.get("app", "creds") or {}).get("SECURE_DATA") == "one"
    path.write_text(secret_manifest("creds", namespace="app", string_data={"SECURE_DATA": "two-changed"}))
    assert (await source.get("app", "creds") or {}).get("SECURE_DATA") == "two-changed"


async def test_a_secret_without_namespace_lands_in_the_default_namespace(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(secret_manifest("creds", string_data={"k": "v"}))
    assert await LocalSecretSource([str(tmp_path)], "team-a").get("team-a", "creds") is not None
    assert await LocalSecretSource([str(tmp_path)]).get("default", "creds") is not None


async def test_bad_base64_is_reported_by_key_without_the_value(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ndata:\n  SECURE_DATA: 'not base64 hunter2!'\n"
    )
    with pytest.raises(SecretSourceError) as raised:
        await LocalSecretSource([str(tmp_path)]).get("default", "bad")
    assert "SECURE_DATA" in str(raised.value)
    assert "hunter2" not in str(raised.value)


async def test_the_source_is_configured_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(secret_manifest("creds", string_data={"k": "v"}))
    source = local_secret_source({"KLT_SECRETS_PATHS": str(tmp_path), "KLT_DEFAULT_NAMESPACE": "ns1"})
    assert await source.get("ns1", "creds") is not None
    assert await local_secret_source({}).get("ns1", "creds") is None
