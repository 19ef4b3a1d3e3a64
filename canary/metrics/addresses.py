"""Metrics provider addresses: one canonical form, how to show them, and the operator's allow-list.

A provider address comes from a Canary (``spec.metricsServer``) or a MetricTemplate
(``spec.provider.address``), i.e. from anyone allowed to create those objects, and the operator
queries it with its own network position.  So an address is parsed once into an
:class:`Endpoint` (``http``/``https``, a host, an optional port and path; no credentials, query
string or fragment), the request URL is built from that parsed form only, and the allow-list
(:class:`AddressPolicy`, ``canary operator --metrics-address-allow``) is checked against that
same form: what is checked is what is contacted.

Messages show :attr:`Endpoint.origin` (``scheme://host:port``), never a path or query string.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "ALLOW_ENV_VAR",
    "AddressPolicy",
    "Endpoint",
    "allow_entry_error",
    "display_address",
    "parse_address",
    "split_allow_env",
]

#: Environment variable read by ``canary operator`` when no ``--metrics-address-allow`` is given
#: (entries separated by whitespace).
ALLOW_ENV_VAR = "CANARY_METRICS_ADDRESS_ALLOW"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
#: Characters that make an allow-list entry a regular expression rather than a prefix.
_REGEX_CHARS = frozenset("\\^$*+?()[]{}|")


@dataclass(frozen=True)
class Endpoint:
    """A parsed provider address: ``scheme://host[:port][/path]`` (default port omitted)."""

    scheme: str
    host: str
    port: int | None = None
    path: str = ""

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: how messages name the provider."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def url(self) -> str:
        """The canonical address (origin and path, no trailing slash); query URLs extend it."""
        return self.origin + self.path


def parse_address(address: str) -> Endpoint:
    """The :class:`Endpoint` of an address; ValueError (with a short reason) when it is unusable."""
    text = address.strip()
    if not text or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("invalid metrics address: empty, or contains spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("invalid metrics address: not a URL with a valid host and port") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("invalid metrics address: the scheme must be http or https")
    if "@" in parts.netloc:
        raise ValueError(
            "invalid metrics address: credentials in the URL are not sent; use the template's secretRef"
        )
    if "?" in text or "#" in text:
        raise ValueError("invalid metrics address: a query string or fragment is not allowed")
    host = parts.hostname or ""
    if not host:
        raise ValueError("invalid metrics address: no host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("invalid metrics address: bad IPv6 host") from None
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError("invalid metrics address: bad host name")
    path = parts.path.rstrip("/")
    if not _PATH.fullmatch(path):
        raise ValueError("invalid metrics address: bad characters in the path")
    return Endpoint(scheme, host, None if port == _DEFAULT_PORTS[scheme] else port, path)


def display_address(address: str) -> str:
    """``scheme://host:port`` of an address for messages, or a placeholder when it cannot be parsed."""
    try:
        return parse_address(address).origin
    except ValueError:
        return "<invalid address>"


def _is_prefix(entry: str) -> bool:
    lowered = entry.lower()
    return lowered.startswith(("http://", "https://")) and not (_REGEX_CHARS & set(entry))


def allow_entry_error(entry: str) -> str | None:
    """Why an allow-list entry is unusable (an invalid prefix or regular expression), else None."""
    if not entry.strip():
        return "empty --metrics-address-allow entry"
    if _is_prefix(entry):
        try:
            parse_address(entry)
        except ValueError as exc:
            return f"--metrics-address-allow prefix {entry!r}: {exc}"
        return None
    try:
        re.compile(entry)
    except re.error as exc:
        return f"--metrics-address-allow {entry!r} is not a valid regular expression: {exc}"
    return None


def split_allow_env(value: str | None) -> tuple[str, ...]:
    """The entries of :data:`ALLOW_ENV_VAR` (separated by whitespace)."""
    return tuple((value or "").split())


def _entry_allows(entry: str, url: str) -> bool:
    if _is_prefix(entry):
        prefix = parse_address(entry).url
        return url == prefix or url.startswith((prefix + "/", prefix + ":"))
    return re.fullmatch(entry, url) is not None


@dataclass(frozen=True)
class AddressPolicy:
    """The operator-wide allow-list of metrics provider addresses (empty = any address).

    An entry starting with ``http://`` or ``https://`` and free of regular-expression characters
    is a prefix, matched at a boundary: ``http://prom.monitoring`` allows
    ``http://prom.monitoring:9090`` and ``http://prom.monitoring/prometheus`` but not
    ``http://prom.monitoring.evil.example``.  Any other entry is a regular expression that must
    match the whole canonical address (``re.fullmatch`` on ``scheme://host[:port][/path]``, host
    lower-cased, default port and trailing slash dropped).  ``always`` are allowed whatever the
    list says (the operator's own default Prometheus).
    """

    entries: tuple[str, ...] = ()
    always: tuple[str, ...] = field(default_factory=tuple)
    option: str = "--metrics-address-allow"
    """The operator option that sets the list, named in refusals."""
    noun: str = "address"
    """What refusals call the refused thing (``address``, ``url``)."""

    def __post_init__(self) -> None:
        for entry in self.entries:
            error = allow_entry_error(entry)
            if error is not None:
                raise ValueError(error)

    @classmethod
    def of(
        cls,
        entries: Iterable[str],
        always: Iterable[str] = (),
        option: str = "--metrics-address-allow",
        noun: str = "address",
    ) -> AddressPolicy:
        """A policy from any iterables of entries and always-allowed addresses."""
        return cls(tuple(entries), tuple(always), option, noun)

    def refusal(self, address: str) -> str | None:
        """The ERROR message when ``address`` must not be queried, else None.

        An address that cannot be parsed is left to the provider, which reports it as invalid
        without sending anything.
        """
        if not self.entries:
            return None
        try:
            url = parse_address(address).url
        except ValueError:
            return None
        for allowed in self.always:
            try:
                if parse_address(allowed).url == url:
                    return None
            except ValueError:
                continue
        if any(_entry_allows(entry, url) for entry in self.entries):
            return None
        return f"{self.noun} {url} not allowed by the operator's {self.option}"
