"""The shapes a CRD needs that the project's contracts do not model yet (klt-facts §1.1, §1.4, §1.7).

The input kinds in ``shared.keptn.resources`` describe ``spec`` only, because klt reads them; their
``status`` parts, and the KeptnAppCreationRequest that the pod webhook creates in Kubernetes mode, are
modelled here for the CRDs. When the watcher's Kubernetes mode needs them, they belong in
``shared.keptn`` and this module should import them from there.
"""

from __future__ import annotations

import msgspec

from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import LIFECYCLE_GROUP


class KeptnAppStatus(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    current_version: str = ""
    """The version the latest KeptnAppVersion was created for."""


class FunctionStatus(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    config_map: str = ""
    """Name of the ConfigMap holding the task's code, for inline deno/python tasks."""


class KeptnTaskDefinitionStatus(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    function: FunctionStatus = msgspec.field(default_factory=FunctionStatus)


class KeptnAppCreationRequestSpec(msgspec.Struct, kw_only=True, rename="camel"):
    app_name: str
    """The app to create (or update) from the KeptnWorkloads that name it."""


class KeptnAppCreationRequest(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Asks for a KeptnApp to be derived from its workloads, once the creation window has passed (§2.3)."""

    api_version: str = f"{LIFECYCLE_GROUP}/v1"
    kind: str = "KeptnAppCreationRequest"
    metadata: ObjectMeta
    spec: KeptnAppCreationRequestSpec
    status: str = ""
