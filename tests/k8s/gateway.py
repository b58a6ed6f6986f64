"""Writes as the API server's handlers do them: admission first, then storage.

Both the HTTP layer and the built-in controllers write through here, so a pod a ReplicaSet controller
creates passes the mutating webhook exactly as one created with ``kubectl`` does. A PATCH is applied to
the current object and stored with that object's resourceVersion as precondition; if another write wins
in between, the patch is re-applied (as the API server retries internally) unless the patch itself named
a resourceVersion, which then is the client's precondition and yields 409.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.k8s import errors
from tests.k8s.admission import Admission
from tests.k8s.patching import apply_patch
from tests.k8s.resources import ResourceType
from tests.k8s.store import Obj, Store

_PATCH_RETRIES = 5


class Gateway:
    def __init__(self, store: Store, admission: Admission) -> None:
        self.store = store
        self.admission = admission

    async def create(
        self,
        resource: ResourceType | str,
        obj: Obj,
        namespace: str | None = None,
        *,
        user: str = "kubernetes-admin",
        dry_run: bool = False,
    ) -> Obj:
        res = self.store.resource(resource)
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        if res.namespaced:
            if namespace and meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        body = await self.admission.admit(
            "CREATE", res, meta.get("namespace", ""), body, None, user=user, dry_run=dry_run
        )
        return self.store.create(res, body, namespace, dry_run=dry_run)

    async def replace(
        self,
        resource: ResourceType | str,
        obj: Obj,
        namespace: str | None,
        name: str,
        *,
        subresource: str | None = None,
        user: str = "kubernetes-admin",
        dry_run: bool = False,
    ) -> Obj:
        res = self.store.resource(resource)
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        if meta.get("name") not in (None, "", name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        current = self.store.get(res, namespace, name)
        body = await self.admission.admit(
            "UPDATE", res, namespace or "", body, current, subresource=subresource, user=user, dry_run=dry_run
        )
        return self.store.replace(res, body, namespace, subresource=subresource, dry_run=dry_run)

    async def patch(
        self,
        resource: ResourceType | str,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        user: str = "kubernetes-admin",
        dry_run: bool = False,
    ) -> Obj:
        res = self.store.resource(resource)
        for _attempt in range(_PATCH_RETRIES):
            current = self.store.get(res, namespace, name)
            base = copy.deepcopy(current)
            base["metadata"].pop("resourceVersion", None)
            patched = apply_patch(content_type, base, patch)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise errors.unprocessable(
                    f'the patch of {res.group_resource} "{name}" does not leave an object'
                )
            explicit = patched["metadata"].get("resourceVersion")
            if patched["metadata"].get("name") != name:
                raise errors.invalid(res, name, "metadata.name", "Invalid value: field is immutable")
            if not explicit:
                patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            patched = await self.admission.admit(
                "UPDATE",
                res,
                namespace or "",
                patched,
                current,
                subresource=subresource,
                user=user,
                dry_run=dry_run,
            )
            try:
                return self.store.replace(res, patched, namespace, subresource=subresource, dry_run=dry_run)
            except errors.ApiError as exc:
                if exc.reason != "Conflict" or explicit:
                    raise
        raise errors.conflict(res, name)

    async def delete(
        self,
        resource: ResourceType | str,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        return self.store.delete(
            resource, namespace, name, propagation=propagation, preconditions=preconditions, dry_run=dry_run
        )
