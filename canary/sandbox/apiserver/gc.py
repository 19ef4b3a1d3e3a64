"""Background garbage collection: ownerReferences cascades and namespace contents.

Runs as ``call_soon`` callbacks after a removal, so a delete returns first and dependents vanish
promptly afterwards (kube's default "background" propagation).  Cascades are transitive because each
removal triggers the hook again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .errors import ApiError
from .store import Store

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class GarbageCollector:
    """Hooks into ``Store.on_removed``; needs the loop the store lives on."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        store.on_removed.append(self._removed)

    def _removed(self, rkey: str, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        self.loop.call_soon(self._collect_dependents, meta.get("uid", ""))
        if rkey == "namespaces":
            self.loop.call_soon(self._collect_namespace, meta.get("name", ""))

    def _delete(self, rkey: str, obj: Obj) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(ApiError):  # already gone (raced with another cascade)
            self.store.delete(rkey, meta.get("namespace", "") or "", meta["name"])

    def _collect_dependents(self, uid: str) -> None:
        if not uid:
            return
        live = {o["metadata"].get("uid") for _, o in self.store.iter_all()}
        victims = []
        for rkey, obj in self.store.iter_all():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs) and not any(r.get("uid") in live for r in refs):
                victims.append((rkey, obj))
        for rkey, obj in victims:
            log.debug("gc: deleting %s %s (owner %s gone)", rkey, obj["metadata"]["name"], uid)
            self._delete(rkey, obj)

    def _collect_namespace(self, namespace: str) -> None:
        victims = [(r, o) for r, o in self.store.iter_all() if o["metadata"].get("namespace") == namespace]
        for rkey, obj in victims:
            self._delete(rkey, obj)
