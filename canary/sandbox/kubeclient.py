"""A tiny async Kubernetes REST client (aiohttp, JSON, plain http) for the sandbox's own controllers.

The sandbox simulates kube-controller-manager and kubelet; it talks to the API emulator over HTTP
like they would, so everything it does is visible to watches. Paths are REST paths
(``/apis/apps/v1/namespaces/ns/deployments``); :func:`resource_path` builds them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code, ``body`` the decoded Status (or text)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def resource_path(
    group_version: str, plural: str, namespace: str | None = None, name: str | None = None
) -> str:
    """REST path of a collection or object: core group is ``v1``, others ``group/version``."""
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    return f"{path}/{name}" if name else path


class KubeClient:
    """get/list/create/patch/patch_status/delete/watch against one API server base url.

    ``token`` is sent as ``Authorization: Bearer`` (the emulator refuses anonymous requests).
    """

    def __init__(self, base_url: str, *, token: str = "", timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8), headers=headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> JSON:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers, params=params, timeout=self._timeout
        ) as resp:
            text = await resp.text()
            try:
                decoded: Any = json.loads(text) if text else {}
            except ValueError:
                decoded = text
            if resp.status >= 300:
                raise ApiError(resp.status, decoded)
            return decoded if isinstance(decoded, dict) else {"value": decoded}

    async def get(self, path: str) -> JSON:
        return await self.request("GET", path)

    async def list(self, path: str, label_selector: str | None = None) -> list[JSON]:
        params = {"labelSelector": label_selector} if label_selector else None
        items: list[JSON] = (await self.request("GET", path, params=params)).get("items") or []
        return items

    async def create(self, path: str, body: JSON) -> JSON:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> JSON:
        return await self.request("PATCH", path, body, content_type=content_type)

    async def patch_status(self, path: str, status: JSON) -> JSON:
        """Merge-patch ``status`` through the status subresource (``path`` is the object's path)."""
        return await self.patch(f"{path}/status", {"status": status})

    async def delete(self, path: str) -> JSON:
        return await self.request("DELETE", path)

    async def watch(self, path: str, resource_version: str | None = None) -> AsyncIterator[JSON]:
        """Yield watch events (``{"type", "object"}``) until the server closes the stream."""
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with self.session.get(self.base_url + path, params=params, timeout=timeout) as resp:
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text())
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)

    async def watch_changes(self, path: str, changed: asyncio.Event, retry_delay: float = 0.5) -> None:
        """Forever: set ``changed`` on every event of the collection at ``path`` (re-watching on errors).

        For level-triggered controllers that re-list on each wake-up: they only need to know *that*
        something changed, which makes resource-version bookkeeping unnecessary.
        """
        while True:
            try:
                changed.set()  # a (re)connect may have missed events
                async for event in self.watch(path):
                    if event.get("type") != "BOOKMARK":
                        changed.set()
            except (TimeoutError, aiohttp.ClientError, ApiError, ValueError):
                pass
            await asyncio.sleep(retry_delay)
