"""In-process registry of what each simulated Deployment runs: the data plane's view of "pods".

The workload controller writes it; the router and data plane read it (same event loop, no locks).
A Deployment is registered as soon as it exists (``port`` None until its process is ready), so
traffic to a Deployment without a ready process is still attributed to it, as a 503.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backend:
    """One Deployment's serving process (one process stands for all its replicas)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    version: str = ""
    pid: int | None = None

    @property
    def ready(self) -> bool:
        return self.port is not None

    def matches(self, namespace: str, selector: Mapping[str, str]) -> bool:
        """Service selector semantics: every selector pair is among the pod labels (empty matches none)."""
        return (
            namespace == self.namespace
            and bool(selector)
            and all(self.labels.get(k) == v for k, v in selector.items())
        )


class BackendRegistry:
    """``(namespace, name) -> Backend`` with change listeners (e.g. to rewrite scrape targets)."""

    def __init__(self) -> None:
        self._backends: dict[tuple[str, str], Backend] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def set(self, backend: Backend) -> None:
        key = (backend.namespace, backend.name)
        if self._backends.get(key) != backend:
            self._backends[key] = backend
            self._changed()

    def remove(self, namespace: str, name: str) -> None:
        if self._backends.pop((namespace, name), None) is not None:
            self._changed()

    def get(self, namespace: str, name: str) -> Backend | None:
        return self._backends.get((namespace, name))

    def select(self, namespace: str, selector: Mapping[str, str]) -> list[Backend]:
        """Backends whose pod labels a Service selector in ``namespace`` matches, by name."""
        return sorted(
            (b for b in self._backends.values() if b.matches(namespace, selector)), key=lambda b: b.name
        )

    def all(self) -> list[Backend]:
        return sorted(self._backends.values(), key=lambda b: (b.namespace, b.name))
