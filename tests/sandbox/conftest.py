"""Shared fixtures for the sandbox API emulator: a live server per test, a kubeconfig, clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config

from canary.sandbox.apiserver import ApiServerThread

TEST_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "things.test.canary.dev"},
    "spec": {
        "group": "test.canary.dev",
        "names": {
            "kind": "Thing",
            "plural": "things",
            "singular": "thing",
            "shortNames": ["th"],
            "categories": ["all"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Weight", "type": "integer", "jsonPath": ".spec.weight"},
                    {"name": "Created", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!(has(self.a) && has(self.b))",
                                        "message": "a and b are exclusive",
                                    },
                                    {"rule": "self.weight <= self.maxWeight"},
                                ],
                                "properties": {
                                    "weight": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "maximum": 100,
                                        "default": 10,
                                    },
                                    "maxWeight": {"type": "integer", "default": 100},
                                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"},
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "a": {"type": "string"},
                                    "b": {"type": "string"},
                                    "note": {"type": "string", "nullable": True},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "properties": {
                                    "phase": {"type": "string"},
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "type": {"type": "string"},
                                                "status": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


class Http:
    """Thin raw-HTTP helper for calls the typed client cannot express (odd content types, watches)."""

    def __init__(self, url: str, token: str = "") -> None:
        self.url = url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json", **kw: Any
    ) -> requests.Response:
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        headers = {"Content-Type": ctype, **kw.pop("headers", {})}
        return self.session.request(method, self.url + path, data=data, headers=headers, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def patch(
        self, path: str, body: Any, ctype: str = "application/merge-patch+json", **kw: Any
    ) -> requests.Response:
        return self.request("PATCH", path, body, ctype, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api_server() -> Iterator[ApiServerThread]:
    with ApiServerThread(history_size=64) as server:
        yield server


@pytest.fixture
def kubeconfig(api_server: ApiServerThread, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig.yaml"
    api_server.write_kubeconfig(path)
    return path


@pytest.fixture
def http(api_server: ApiServerThread) -> Http:
    return Http(api_server.url, api_server.admin_token)


@pytest.fixture
def k8s(api_server: ApiServerThread) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config_dict(api_server.kubeconfig())
    yield api
    api.close()


@pytest.fixture
def thing_crd(http: Http) -> dict[str, Any]:
    """The test CRD, registered; returns the stored CRD."""
    resp = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", TEST_CRD)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


THINGS = "/apis/test.canary.dev/v1/namespaces/default/things"


def thing(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.canary.dev/v1", "kind": "Thing", "metadata": {"name": name}, "spec": spec}
