"""The create-only endpoints behind ``kubectl create token`` and ``kubectl auth can-i``.

``POST .../serviceaccounts/{name}/token`` (authentication.k8s.io/v1 TokenRequest): the ServiceAccount
must exist (404), ``spec.expirationSeconds`` defaults to 3600 and may not be under 600 or over 2^32
(422, with kube's empty object name), ``spec.audiences`` is echoed (default: the API server's own
audience); the answer carries ``status.token`` and ``status.expirationTimestamp``.  ``boundObjectRef``
is echoed but not enforced.  ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` answers
``status.allowed``/``status.reason`` for the caller.  Neither is stored.
"""

from __future__ import annotations

import datetime
from typing import Any

from . import fielderrors
from .auth import DEFAULT_EXPIRATION, MIN_EXPIRATION, Authenticator, UserInfo
from .errors import bad_request, invalid
from .rbac import Attributes, Authorizer
from .store import Store

Obj = dict[str, Any]
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
MAX_EXPIRATION = 1 << 32


def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_request(authn: Authenticator, store: Store, namespace: str, name: str, body: Any) -> Obj:
    """The TokenRequest kube answers (201), with a new bound token."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be an object")
    sa = store.require("serviceaccounts", namespace, name)
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds")
    seconds = DEFAULT_EXPIRATION if seconds is None else seconds
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise bad_request("spec.expirationSeconds must be an integer")
    if seconds < MIN_EXPIRATION:
        cause = fielderrors.invalid(
            "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
        )
        raise invalid("TokenRequest", "authentication.k8s.io", "", [cause])
    if seconds > MAX_EXPIRATION:
        cause = fielderrors.invalid(
            "spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"
        )
        raise invalid("TokenRequest", "authentication.k8s.io", "", [cause])
    spec["expirationSeconds"] = seconds
    spec["audiences"] = list(spec.get("audiences") or [API_AUDIENCE])
    spec.setdefault("boundObjectRef", None)
    token, expires = authn.issue(namespace, name, sa["metadata"]["uid"], seconds)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": _rfc3339(expires)},
    }


def self_subject_access_review(authz: Authorizer, user: UserInfo, body: Any) -> Obj:
    """The SelfSubjectAccessReview kube answers (201): may the caller do what ``spec`` describes?"""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be an object")
    spec = body.get("spec") or {}
    res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (res is None) == (nonres is None):
        field = "spec.resourceAttributes" if res is not None else "spec.nonResourceAttributes"
        cause = fielderrors.invalid(
            field, None, "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        )
        raise invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [cause])
    if res is not None:
        attrs = Attributes(user, str(res.get("verb", "")), True, str(res.get("group", "")),
                           str(res.get("version", "")), str(res.get("resource", "")),
                           str(res.get("subresource", "")), str(res.get("namespace", "")),
                           str(res.get("name", "")))  # fmt: skip
    else:
        nonres = nonres if isinstance(nonres, dict) else {}
        attrs = Attributes(user, str(nonres.get("verb", "")), False, path=str(nonres.get("path", "")))
    allowed, grant = authz.authorize(attrs)
    status: Obj = {"allowed": allowed}
    if grant is not None:
        status["reason"] = grant.describe()
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
