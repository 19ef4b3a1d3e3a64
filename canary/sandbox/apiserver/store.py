"""In-memory object store: resourceVersions, uids, generations, watch fan-out and bounded history.

Resources are keyed like kube names them in messages: ``"services"``, ``"deployments.apps"``,
``"canaries.canary.dev"``.  All mutation happens on the server's event loop, so no locks are needed;
other threads must go through HTTP (or ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import datetime
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, already_exists, conflict, gone, not_found

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace or "", name)

HISTORY_SIZE = 4096


def now_iso() -> str:
    """RFC 3339 with second precision and ``Z``, exactly what kube emits for metav1.Time."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_rkey(rkey: str) -> tuple[str, str]:
    """``"deployments.apps"`` -> ``("deployments", "apps")``; core resources have group ``""``."""
    plural, _, group = rkey.partition(".")
    return plural, group


@dataclass(frozen=True)
class Event:
    """One change; ``previous`` lets selector-filtered watches turn transitions into ADDED/DELETED."""

    type: str
    rkey: str
    object: Obj
    previous: Obj | None
    rv: int


@dataclass(eq=False)
class Watcher:
    """A live subscription; events are pushed by the store and pulled by ``__aiter__``."""

    rkey: str
    namespace: str | None
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)

    def matches(self, event: Event) -> bool:
        if event.rkey != self.rkey:
            return False
        if self.namespace is None:
            return True
        return bool(event.object.get("metadata", {}).get("namespace", "") == self.namespace)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event


def _spec_part(obj: Obj) -> Obj:
    """Everything that counts towards ``generation``: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    """Objects by resource; every write bumps one global resourceVersion, like etcd's revision."""

    def __init__(self, history_size: int = HISTORY_SIZE) -> None:
        self._objects: dict[str, dict[ObjKey, Obj]] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history_size)
        self._floor = 0  # events with rv <= floor may be lost from history
        self._watchers: set[Watcher] = set()
        self.on_removed: list[Callable[[str, Obj], None]] = []
        self.on_written: list[Callable[[str, Obj], None]] = []

    # ---------------------------------------------------------------- reads
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rkey: str, namespace: str, name: str) -> Obj | None:
        """A deep copy, so callers may mutate freely."""
        obj = self._objects.get(rkey, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def require(self, rkey: str, namespace: str, name: str) -> Obj:
        obj = self.get(rkey, namespace, name)
        if obj is None:
            plural, group = split_rkey(rkey)
            raise not_found(plural, group, name)
        return obj

    def list(self, rkey: str, namespace: str | None = None) -> list[Obj]:
        """Deep copies sorted by namespace/name (kube lists are key-ordered)."""
        items = self._objects.get(rkey, {})
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        return [copy.deepcopy(items[k]) for k in keys]

    def iter_all(self) -> Iterable[tuple[str, Obj]]:
        """Every stored object (no copies: read-only use, e.g. by garbage collection)."""
        for rkey, items in list(self._objects.items()):
            for obj in list(items.values()):
                yield rkey, obj

    # ---------------------------------------------------------------- writes
    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, type_: str, rkey: str, obj: Obj, previous: Obj | None) -> None:
        event = Event(type_, rkey, copy.deepcopy(obj), previous, self._rv)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(event)
        for watcher in list(self._watchers):
            if watcher.matches(event):
                watcher.queue.put_nowait(event)

    def create(self, rkey: str, obj: Obj) -> Obj:
        """Insert a new object, filling uid/creationTimestamp/generation/resourceVersion."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") or "", meta["name"])
        bucket = self._objects.setdefault(rkey, {})
        if key in bucket:
            plural, group = split_rkey(rkey)
            raise already_exists(plural, group, key[1])
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        meta["resourceVersion"] = self._bump()
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        bucket[key] = copy.deepcopy(obj)
        self._emit("ADDED", rkey, obj, None)
        for hook in self.on_written:
            hook(rkey, obj)
        return obj

    def update(self, rkey: str, obj: Obj, *, expected_rv: str | None = None) -> Obj:
        """Replace an object; immutable metadata is kept and ``generation`` bumps on spec changes.

        An object being deleted whose finalizers became empty is removed here, as in kube.
        """
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") or "", meta["name"])
        plural, group = split_rkey(rkey)
        old = self._objects.get(rkey, {}).get(key)
        if old is None:
            raise not_found(plural, group, key[1])
        old_meta = old["metadata"]
        if expected_rv and expected_rv != old_meta["resourceVersion"]:
            raise conflict(plural, group, key[1])
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["generation"] = old_meta.get("generation", 1)
        if _spec_part(obj) != _spec_part(old):
            meta["generation"] += 1
        for k in ("labels", "annotations"):
            if k in meta and not meta[k]:
                del meta[k]
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if obj == old:  # a no-op write does not bump resourceVersion, like kube
            return copy.deepcopy(old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rkey, key, obj)
        meta["resourceVersion"] = self._bump()
        self._objects[rkey][key] = copy.deepcopy(obj)
        self._emit("MODIFIED", rkey, obj, copy.deepcopy(old))
        for hook in self.on_written:
            hook(rkey, obj)
        return obj

    def delete(self, rkey: str, namespace: str, name: str, *, expected_rv: str | None = None) -> Obj:
        """Delete, or only mark ``deletionTimestamp`` while finalizers remain."""
        plural, group = split_rkey(rkey)
        old = self._objects.get(rkey, {}).get((namespace, name))
        if old is None:
            raise not_found(plural, group, name)
        if expected_rv and expected_rv != old["metadata"]["resourceVersion"]:
            raise conflict(plural, group, name)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(old)
            obj = copy.deepcopy(old)
            obj["metadata"]["deletionTimestamp"] = now_iso()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            obj["metadata"]["resourceVersion"] = self._bump()
            self._objects[rkey][(namespace, name)] = copy.deepcopy(obj)
            self._emit("MODIFIED", rkey, obj, copy.deepcopy(old))
            return obj
        return self._remove(rkey, (namespace, name), copy.deepcopy(old))

    def _remove(self, rkey: str, key: ObjKey, obj: Obj) -> Obj:
        previous = self._objects[rkey].pop(key)
        obj["metadata"]["resourceVersion"] = self._bump()
        self._emit("DELETED", rkey, obj, previous)
        for hook in self.on_removed:
            hook(rkey, obj)
        return obj

    def drop_resource(self, rkey: str) -> None:
        """Forget every object of a resource (its CRD was deleted), telling watchers."""
        for key in list(self._objects.get(rkey, {})):
            obj = copy.deepcopy(self._objects[rkey][key])
            self._remove(rkey, key, obj)
        self._objects.pop(rkey, None)
        for watcher in list(self._watchers):
            if watcher.rkey == rkey:
                watcher.queue.put_nowait(None)

    # ---------------------------------------------------------------- watching
    def subscribe(
        self, rkey: str, namespace: str | None, resource_version: str | None
    ) -> tuple[Watcher, builtins.list[Event]]:
        """Register a watcher and return the backlog it must see first.

        No/``"0"`` resourceVersion: synthetic ADDED for current objects (kube's "start at any").
        A known version: replay history after it; older than the history -> 410 Gone.
        """
        watcher = Watcher(rkey, namespace)
        backlog: builtins.list[Event] = []
        if not resource_version or resource_version == "0":
            for obj in self.list(rkey, namespace):
                backlog.append(Event("ADDED", rkey, obj, None, int(obj["metadata"]["resourceVersion"])))
        else:
            try:
                since = int(resource_version)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid resource version: {resource_version!r}") from exc
            if since < self._floor:
                raise gone(f"too old resource version: {since} ({self._floor + 1})")
            backlog = [e for e in self._history if e.rv > since and watcher.matches(e)]
        self._watchers.add(watcher)
        return watcher, backlog

    def watcher_count(self, rkey: str | None = None) -> int:
        """Live watches (optionally of one resource); lets tests await a client's watch instead of sleeping."""
        return sum(1 for w in self._watchers if rkey is None or w.rkey == rkey)

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    async def watch(
        self, rkey: str, namespace: str | None = None, resource_version: str | None = None
    ) -> AsyncIterator[Event]:
        """In-process watch for sandbox components running on the server's loop."""
        watcher, backlog = self.subscribe(rkey, namespace, resource_version)
        try:
            for event in backlog:
                yield event
            async for event in watcher:
                yield event
        finally:
            self.unsubscribe(watcher)

    def close_watchers(self) -> None:
        """End all streams (server shutdown)."""
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        self._watchers.clear()
