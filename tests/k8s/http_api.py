"""The REST surface: discovery documents and the resource paths kubernetes-asyncio calls.

Paths served: ``/version``, ``/healthz``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>``,
and for every resource in the table the collection, item, ``/status`` and (pods) ``/log`` paths, namespaced
(``.../namespaces/<ns>/<plural>...``) and across all namespaces (``.../<plural>``). Errors are ``Status``
objects with the API server's codes and reasons.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.k8s import errors
from tests.k8s.patching import JSON_PATCH, MERGE, STRATEGIC
from tests.k8s.resources import ResourceType
from tests.k8s.selectors import labels_match, parse_field_selector, parse_label_selector
from tests.k8s.store import Obj
from tests.k8s.watching import WatchRequest, serve_watch, served

if TYPE_CHECKING:
    from tests.k8s.server import ApiServer

log = logging.getLogger(__name__)
_TRUE = ("true", "1", "True")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


async def _body(request: web.Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise errors.bad_request(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


class Routes:
    """Request parsing and dispatch; the semantics live in the store, gateway and watch modules."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.table = server.table
        self.store = server.store
        self.gateway = server.gateway

    def app(self) -> web.Application:
        @web.middleware
        async def status_errors(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            try:
                return await handler(request)
            except errors.ApiError as exc:
                return _json(exc.status(), exc.code)
            except json.JSONDecodeError as exc:
                return _json(errors.bad_request(f"the request body is not JSON: {exc}").status(), 400)
            except web.HTTPException:
                raise
            except Exception as exc:  # a bug in the test server: show it to the client and in the log
                log.exception("The Kubernetes API test server failed on %s %s", request.method, request.path)
                return _json(errors.internal(f"{type(exc).__name__}: {exc}").status(), 500)

        app = web.Application(middlewares=[status_errors], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self.dispatch)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.server.requests.append((request.method, request.path, dict(request.query)))
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            discovery = self._discovery(parts)
            if discovery is not None:
                return _json(discovery)
        if parts[:1] == ["api"] and len(parts) >= 3 and parts[1] == "v1":
            return await self._resource(request, "", "v1", parts[2:])
        if parts[:1] == ["apis"] and len(parts) >= 4:
            return await self._resource(request, parts[1], parts[2], parts[3:])
        raise errors.path_not_found(request.path)

    # -- discovery -------------------------------------------------------------------------------------

    def _discovery(self, parts: list[str]) -> Any:
        if parts == ["version"]:
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-klt-test", "platform": "linux/amd64"}
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return "ok"
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server.host}
                ],
            }
        if parts == ["api", "v1"]:
            return self._resource_list("", "v1")
        if parts == ["apis"]:
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [self._group(g, vs) for g, vs in self.table.groups().items()],
            }
        if len(parts) == 2 and parts[0] == "apis":
            versions = self.table.groups().get(parts[1])
            return (
                None
                if versions is None
                else {"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1], versions)}
            )
        if len(parts) == 3 and parts[0] == "apis" and self.table.in_group_version(parts[1], parts[2]):
            return self._resource_list(parts[1], parts[2])
        return None

    @staticmethod
    def _group(group: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in reversed(versions)]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources: list[dict[str, Any]] = []
        for res in self.table.in_group_version(group, version):
            entry = {
                "name": res.plural,
                "singularName": res.singular,
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": _VERBS,
            }
            if res.short_names:
                entry["shortNames"] = list(res.short_names)
            resources.append(entry)
            if res.status:
                resources.append(
                    {
                        "name": f"{res.plural}/status",
                        "singularName": "",
                        "namespaced": res.namespaced,
                        "kind": res.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
            if res.plural == "pods" and not group:
                resources.append(
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    # -- resources -------------------------------------------------------------------------------------

    async def _resource(
        self, request: web.Request, group: str, version: str, tail: list[str]
    ) -> web.StreamResponse:
        namespace: str | None = None
        if tail[0] == "namespaces" and len(tail) >= 3:
            candidate = self.table.at(group, version, tail[2])
            if candidate is not None and candidate.namespaced:
                namespace, tail = tail[1], tail[2:]
        res = self.table.at(group, version, tail[0])
        if res is None:
            raise errors.path_not_found(request.path)
        name = tail[1] if len(tail) > 1 else None
        sub = tail[2] if len(tail) > 2 else None
        if len(tail) > 3 or (
            sub and not ((sub == "status" and res.status) or (sub == "log" and res.plural == "pods"))
        ):
            raise errors.path_not_found(request.path)
        if name is not None and res.namespaced and namespace is None:
            raise errors.path_not_found(request.path)
        query = request.query
        dry_run = query.get("dryRun") == "All"
        method = request.method
        if name is None:
            if method == "GET":
                if query.get("watch") in _TRUE:
                    return await self._watch(request, res, namespace)
                return _json(self._list(res, namespace, query))
            if method == "POST":
                if res.namespaced and namespace is None:
                    raise errors.method_not_allowed(f"POST is not supported on {request.path}")
                created = await self.gateway.create(res, await _body(request), namespace, dry_run=dry_run)
                return _json(served(res, created), 201)
            if method == "DELETE":
                return _json(await self._delete_collection(res, namespace, query, dry_run))
            raise errors.method_not_allowed(f"{method} is not supported on a collection")
        if sub == "log":
            return self._log(res, namespace, name, query)
        if method == "GET":
            return _json(served(res, self.store.get(res, namespace, name)))
        if method == "PUT":
            replaced = await self.gateway.replace(
                res, await _body(request), namespace, name, subresource=sub, dry_run=dry_run
            )
            return _json(served(res, replaced))
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", STRATEGIC if res.builtin else MERGE)
            if content_type.split(";")[0].strip() == "application/json":
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {JSON_PATCH}, {MERGE}, {STRATEGIC}",
                )
            if content_type.startswith(STRATEGIC) and not res.builtin:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"strategic merge patch is not supported for custom resources "
                    f"({res.group_resource}); use {MERGE} or {JSON_PATCH}",
                )
            patched = await self.gateway.patch(
                res, namespace, name, content_type, await request.json(), subresource=sub, dry_run=dry_run
            )
            return _json(served(res, patched))
        if method == "DELETE" and sub is None:
            options = await self._delete_options(request)
            gone = await self.gateway.delete(
                res,
                namespace,
                name,
                propagation=options.get("propagationPolicy"),
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
            if res.plural == "pods" or gone["metadata"].get("deletionTimestamp"):
                return _json(served(res, gone))
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": res.group,
                        "kind": res.plural,
                        "uid": gone["metadata"]["uid"],
                    },
                }
            )
        raise errors.method_not_allowed(f"{method} is not supported on {request.path}")

    def _selectors(self, res: ResourceType, query: Any) -> Callable[[Obj], bool]:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), res.plural)
        return lambda obj: labels_match(labels, obj) and fields(obj)

    def _list(self, res: ResourceType, namespace: str | None, query: Any) -> dict[str, Any]:
        rv = self.store.resource_version
        items = self.store.list(res, namespace, predicate=self._selectors(res, query))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        start = query.get("continue")
        if start:
            try:
                token = json.loads(base64.urlsafe_b64decode(start))
                rv, after = int(token["rv"]), tuple(token["after"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request(f"invalid continue token: {start!r}") from None
            meta["resourceVersion"] = str(rv)
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = {"rv": rv, "after": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if res.builtin:
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        else:
            items = [served(res, o) for o in items]
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items}

    async def _watch(
        self, request: web.Request, res: ResourceType, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        timeout = query.get("timeoutSeconds")
        watch = WatchRequest(
            resource=res,
            namespace=namespace,
            matches=self._selectors(res, query),
            resource_version=query.get("resourceVersion"),
            bookmarks=query.get("allowWatchBookmarks") in _TRUE,
            initial_events_end=query.get("sendInitialEvents") in _TRUE,
            timeout=float(timeout) if timeout else self.server.watch_timeout,
        )
        return await serve_watch(request, self.store, watch, self.server.bookmark_interval)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.can_read_body:
            text = await request.text()
            if text.strip():
                options = json.loads(text)
        if request.query.get("propagationPolicy"):
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    async def _delete_collection(
        self, res: ResourceType, namespace: str | None, query: Any, dry_run: bool
    ) -> dict[str, Any]:
        gone = []
        for obj in self.store.list(res, namespace, predicate=self._selectors(res, query)):
            meta = obj["metadata"]
            gone.append(
                served(
                    res,
                    await self.gateway.delete(
                        res,
                        meta.get("namespace"),
                        meta["name"],
                        propagation=query.get("propagationPolicy"),
                        dry_run=dry_run,
                    ),
                )
            )
        return {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": gone,
        }

    def _log(self, res: ResourceType, namespace: str | None, name: str, query: Any) -> web.Response:
        """A pod's log is what its plan or Job script said (empty otherwise)."""
        self.store.get(res, namespace, name)
        return web.Response(
            text=self.server.controllers.logs.get((namespace or "", name), ""), content_type="text/plain"
        )
