"""API errors rendered as the API server renders them: a ``Status`` object with code and reason.

Messages follow the API server's wording (``pods "x" not found``, ``Operation cannot be fulfilled
on ...``) because clients and people match on them.
"""

from __future__ import annotations

from typing import Any

from tests.k8s.resources import ResourceType


class ApiError(Exception):
    """A failed request; ``status()`` is the body the API server would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource.group_resource} "{name}" not found', _details(resource, name)
    )


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
    )


def already_exists(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{resource.group_resource} "{name}" already exists', _details(resource, name)
    )


def conflict(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _details(resource, name),
    )


def precondition_failed(resource: ResourceType, name: str, what: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": Precondition failed: {what}',
        _details(resource, name),
    )


def invalid(resource: ResourceType, name: str, field: str, why: str) -> ApiError:
    kind = resource.kind
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {field}: {why}',
        {
            **_details(resource, name),
            "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unprocessable(message: str) -> ApiError:
    """A patch that cannot be applied (a failed JSON-patch ``test``, a missing path)."""
    return ApiError(422, "Invalid", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def expired(requested: int, oldest: int) -> ApiError:
    """The watch error for a resourceVersion older than the retained history (HTTP 410 Gone)."""
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def internal(message: str) -> ApiError:
    return ApiError(
        500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
    )
