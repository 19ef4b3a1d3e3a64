"""A throwaway kopf operator against the emulator: create/update/delete, finalizers, status patches."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from conftest import Http
from waiting import eventually

from canary.sandbox.apiserver import ApiServerThread

THINGS = "/apis/test.canary.dev/v1/namespaces/default/things"


class Operator:
    """kopf in its own thread and loop; ``seen`` records the handler calls."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.seen: list[tuple[str, str]] = []
        self.registry = kopf.OperatorRegistry()
        self.loop = asyncio.new_event_loop()
        self.stop_flag: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._register()

    def _register(self) -> None:
        reg, seen, url = self.registry, self.seen, self.url

        @kopf.on.login(registry=reg)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True, scheme="Bearer", token=self.token)

        @kopf.on.startup(registry=reg)
        def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            settings.peering.standalone = True
            settings.posting.level = logging.INFO
            settings.watching.server_timeout = 30
            settings.persistence.finalizer = "test.canary.dev/finalizer"

        @kopf.on.create("test.canary.dev", "v1", "things", id="created", registry=reg)
        def created(name: str, spec: Any, body: kopf.Body, patch: kopf.Patch, **_: Any) -> dict[str, Any]:
            seen.append(("create", name))
            kopf.info(body, reason="Tested", message="created by the sandbox operator")
            patch.status["phase"] = "Ready"
            return {"weight": spec.get("weight")}

        @kopf.on.update("test.canary.dev", "v1", "things", id="updated", registry=reg)
        def updated(name: str, spec: Any, patch: kopf.Patch, **_: Any) -> None:
            seen.append(("update", name))
            patch.status["phase"] = f"Updated-{spec.get('weight')}"

        @kopf.on.delete("test.canary.dev", "v1", "things", id="deleted", registry=reg)
        def deleted(name: str, **_: Any) -> None:
            seen.append(("delete", name))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.stop_flag = asyncio.Event()

        async def main() -> None:
            ready = asyncio.Event()

            async def mark_ready() -> None:
                await ready.wait()
                self.ready.set()

            marker = asyncio.create_task(mark_ready())
            await kopf.operator(registry=self.registry, standalone=True, namespaces=["default"],
                                stop_flag=self.stop_flag, ready_flag=ready)  # fmt: skip
            marker.cancel()

        self.loop.run_until_complete(main())

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(15), "kopf did not become ready"

    def stop(self) -> None:
        if self.stop_flag is not None:
            self.loop.call_soon_threadsafe(self.stop_flag.set)
        self.thread.join(timeout=15)


@pytest.fixture
def operator(api_server: ApiServerThread, thing_crd: dict[str, Any]) -> Iterator[Operator]:
    op = Operator(api_server.url, api_server.admin_token)
    op.start()
    yield op
    op.stop()


def test_kopf_handles_lifecycle(operator: Operator, http: Http, api_server: ApiServerThread) -> None:
    http.post(
        THINGS,
        {
            "apiVersion": "test.canary.dev/v1",
            "kind": "Thing",
            "metadata": {"name": "a"},
            "spec": {"weight": 5},
        },
    )
    eventually(
        "phase Ready",
        lambda: http.get(f"{THINGS}/a").json().get("status", {}).get("phase") == "Ready",
        timeout=15,
    )
    obj = http.get(f"{THINGS}/a").json()
    assert "test.canary.dev/finalizer" in obj["metadata"]["finalizers"]
    assert obj["status"]["created"] == {"weight": 5}  # handler result stored in status by kopf

    http.patch(f"{THINGS}/a", {"spec": {"weight": 7}})
    eventually(
        "phase Updated-7",
        lambda: http.get(f"{THINGS}/a").json().get("status", {}).get("phase") == "Updated-7",
        timeout=15,
    )

    http.delete(f"{THINGS}/a")
    eventually("the object gone", lambda: http.get(f"{THINGS}/a").status_code == 404, timeout=15)
    assert [kind for kind, _ in operator.seen] == ["create", "update", "delete"]

    def posted() -> bool:  # kopf posts k8s events from a background task
        events = http.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=a").json()[
            "items"
        ]
        return any(e["reason"] == "Tested" and e["involvedObject"]["kind"] == "Thing" for e in events)

    eventually("the Tested event", posted, timeout=15)
