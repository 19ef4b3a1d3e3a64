"""Kubernetes-style ``Status`` errors, raised anywhere and rendered by the HTTP layer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error that becomes a ``kind: Status`` response, as clients parse those for reason/code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        """The wire form that kubectl, kopf and the python client understand."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details or self.reason == "Forbidden":  # kube's Forbidden always carries details, maybe {}
            body["details"] = self.details
        return body


def _details(kind: str, name: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 in the exact shape kube uses: ``deployments.apps "x" not found``."""
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found', details=_details(plural, name, group))


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists, as kopf/kubectl distinguish it from Conflict by reason."""
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(
        409, "AlreadyExists", f'{qualified} "{name}" already exists', details=_details(plural, name, group)
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    """409 Conflict for optimistic-concurrency failures (stale resourceVersion)."""
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=_details(plural, name, group),
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest (malformed bodies, strict decoding errors)."""
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    """410 Gone: a watch asked for history we no longer keep."""
    return ApiError(410, "Expired", message)


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid with causes, formatted exactly like kube-apiserver's field.ErrorList."""
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(kind, name, group)
    details["causes"] = [
        {"reason": c.get("reason", "FieldValueInvalid"), "message": c["message"], "field": c.get("field", "")}
        for c in causes
    ]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details=details)
