"""Authentication: bearer tokens, as kube-apiserver's token authenticators see them.

Modelled: x509 client certificates signed by the server's CA (``tls``; CN user, O groups); one
random admin token per server (user ``system:admin`` in ``system:masters``, which
authorization always allows, as kube's privileged-group authorizer does); bound ServiceAccount
tokens from the TokenRequest API (``system:serviceaccount:{ns}:{name}``, groups
``system:serviceaccounts``, ``system:serviceaccounts:{ns}``, ``system:authenticated``), valid until
they expire or their ServiceAccount (by uid) is gone; requests without credentials are
``system:anonymous`` in ``system:unauthenticated``; an unknown or expired token is a 401.
Deliberately not modelled: basic auth, JWT signatures and audiences checks
(tokens are opaque random strings; ``spec.audiences`` is echoed only), legacy Secret-based tokens,
``boundObjectRef`` to pods/secrets, and the ``system:anonymous`` request-header/proxy authenticators.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from . import tls
from .errors import ApiError
from .store import Store

ADMIN_USER = "system:admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"
MIN_EXPIRATION = 600  # kube's minimum for spec.expirationSeconds
DEFAULT_EXPIRATION = 3600
MAX_TOKENS = 10_000  # bound memory: the oldest tokens are forgotten first


@dataclass(frozen=True)
class UserInfo:
    """Who made a request: kube's ``user.Info`` without ``extra``."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups


ADMIN = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


def unauthorized() -> ApiError:
    """401 exactly as kube answers a bad bearer token."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The identity of a ServiceAccount, as its tokens (and impersonation) present it."""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}", groups, uid)


def split_service_account(username: str) -> tuple[str, str] | None:
    """``system:serviceaccount:ns:name`` -> ``(ns, name)``, else None."""
    if not username.startswith(SA_PREFIX):
        return None
    ns, sep, name = username[len(SA_PREFIX) :].partition(":")
    return (ns, name) if sep and ns and name and ":" not in name else None


@dataclass(frozen=True)
class BoundToken:
    """A TokenRequest token: bound to its ServiceAccount's uid, valid until ``expires`` (epoch s)."""

    namespace: str
    name: str
    sa_uid: str
    expires: float


class Authenticator:
    """Maps ``Authorization: Bearer`` headers to users; issues ServiceAccount tokens."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.admin_token = secrets.token_urlsafe(32)
        self._tokens: dict[str, BoundToken] = {}

    def issue(self, namespace: str, name: str, sa_uid: str, expiration_seconds: int) -> tuple[str, float]:
        """A new bound token and its expiry (epoch seconds)."""
        now = time.time()
        self._tokens = {t: b for t, b in self._tokens.items() if b.expires > now}
        while len(self._tokens) >= MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        token = secrets.token_urlsafe(32)
        expires = now + expiration_seconds
        self._tokens[token] = BoundToken(namespace, name, sa_uid, expires)
        return token, expires

    def expire(self, token: str) -> None:
        """Make a token expire now (tests of the 401 path; kube would wait for the clock)."""
        bound = self._tokens.get(token)
        if bound is not None:
            self._tokens[token] = BoundToken(bound.namespace, bound.name, bound.sa_uid, time.time() - 1)

    def authenticate(self, authorization: str | None, peercert: object = None) -> UserInfo:
        """The caller; raises 401 for a token that does not (or no longer) authenticate.

        A verified client certificate wins (kube tries x509 before tokens): CN is the user, O the groups.
        """
        identity = tls.peer_identity(peercert)
        if identity is not None:
            name, groups = identity
            return UserInfo(name, (*groups, AUTHENTICATED) if AUTHENTICATED not in groups else groups)
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        if secrets.compare_digest(token, self.admin_token):
            return ADMIN
        bound = self._tokens.get(token)
        if bound is None or bound.expires <= time.time():
            raise unauthorized()
        sa = self.store.get("serviceaccounts", bound.namespace, bound.name)
        if sa is None or sa["metadata"].get("uid") != bound.sa_uid or sa["metadata"].get("deletionTimestamp"):
            raise unauthorized()
        return service_account_user(bound.namespace, bound.name, bound.sa_uid)
