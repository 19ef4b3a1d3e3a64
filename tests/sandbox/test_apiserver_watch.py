"""List/watch semantics: selectors, resume, 410 Gone, timeouts."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import Http
from kubernetes import client, watch

CMS = "/api/v1/namespaces/default/configmaps"


def _cm(http: Http, name: str, **labels: str) -> dict[str, Any]:
    return dict(http.post(CMS, {"metadata": {"name": name, "labels": labels}}).json())


def _names(http: Http, query: str, path: str = CMS) -> list[str]:
    return [i["metadata"]["name"] for i in http.get(f"{path}?{query}").json()["items"]]


def test_list_shape(http: Http) -> None:
    body = http.get(CMS).json()
    assert (
        body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1" and body["metadata"]["resourceVersion"]
    )


def test_label_selectors_on_list(http: Http) -> None:
    _cm(http, "a", app="web", tier="fe")
    _cm(http, "b", app="db")
    _cm(http, "c")
    assert _names(http, "labelSelector=app=web") == ["a"]
    assert _names(http, "labelSelector=app!=web") == ["b", "c"]
    assert _names(http, "labelSelector=app") == ["a", "b"]
    assert _names(http, "labelSelector=!app") == ["c"]
    assert _names(http, "labelSelector=app in (web,db),tier notin (be)") == ["a", "b"]
    assert _names(http, "labelSelector=app notin (web)") == ["b", "c"]


def test_field_selectors_and_all_namespaces(http: Http) -> None:
    http.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    _cm(http, "a")
    http.post("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "a"}})
    assert _names(http, "fieldSelector=metadata.name=a", "/api/v1/configmaps") == ["a", "a"]
    found = http.get("/api/v1/configmaps?fieldSelector=metadata.namespace=other").json()["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in found] == [("other", "a")]
    assert _names(http, "fieldSelector=metadata.name!=a") == []


def _events(http: Http, query: str) -> list[dict[str, Any]]:
    resp = http.get(f"{CMS}?watch=true&{query}", stream=True)
    assert resp.headers["Content-Type"].startswith("application/json")
    return [json.loads(line) for line in resp.iter_lines() if line]


def test_watch_resumes_from_resource_version_with_selector(http: Http) -> None:
    start = http.get(CMS).json()["metadata"]["resourceVersion"]
    _cm(http, "a", app="web")
    _cm(http, "b", app="db")
    http.patch(f"{CMS}/a", {"data": {"x": "1"}})
    http.patch(f"{CMS}/a", {"metadata": {"labels": {"app": "other"}}})  # leaves the selection -> DELETED
    events = _events(http, f"resourceVersion={start}&timeoutSeconds=1&labelSelector=app=web")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a"),
    ]  # fmt: skip


def test_watch_without_version_starts_with_added(http: Http) -> None:
    _cm(http, "a")
    events = _events(http, "timeoutSeconds=1&fieldSelector=metadata.name=a")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    assert events[0]["object"]["kind"] == "ConfigMap"


def test_watch_too_old_resource_version_is_410(http: Http) -> None:
    first = _cm(http, "a")["metadata"]["resourceVersion"]
    for i in range(80):  # the fixture keeps 64 events of history
        http.patch(f"{CMS}/a", {"data": {"n": str(i)}})
    events = _events(http, f"resourceVersion={first}&timeoutSeconds=1")
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


def test_watch_timeout_seconds_closes_stream(http: Http) -> None:
    rv = http.get(CMS).json()["metadata"]["resourceVersion"]
    started = time.monotonic()
    assert _events(http, f"resourceVersion={rv}&timeoutSeconds=1") == []
    assert 0.9 < time.monotonic() - started < 3


def test_python_client_watch_sees_live_changes(k8s: client.ApiClient, http: Http) -> None:
    core: Any = client.CoreV1Api(k8s)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    _cm(http, "a")
    http.delete(f"{CMS}/a")
    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)]  # fmt: skip
    assert seen == [("ADDED", "a"), ("DELETED", "a")]


def test_store_level_watch(api_server: Any, http: Http) -> None:
    import asyncio

    async def collect() -> list[str]:
        out = []
        async for event in api_server.store.watch("configmaps", "default", "0"):
            out.append(f"{event.type}:{event.object['metadata']['name']}")
            if len(out) == 2:
                break
        return out

    _cm(http, "a")
    fut = asyncio.run_coroutine_threadsafe(collect(), api_server.loop)
    _cm(http, "b")
    assert fut.result(timeout=5) == ["ADDED:a", "ADDED:b"]
