"""Pod objects mirroring what each Deployment runs, so ``kubectl get pods`` looks like a cluster.

Cosmetic: nothing in the sandbox reads them back. Pods are named like the real ones
(``<deployment>-<template hash>-<suffix>``), carry the template's labels plus ``pod-template-hash``,
and are owned by their Deployment (there are no ReplicaSet objects), so deleting it collects them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .kubeclient import JSON, ApiError, KubeClient, resource_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PodGroup:
    """``count`` pods of one pod template, ready or still starting."""

    template_hash: str
    count: int
    ready: bool


def pod_name(deployment: str, template_hash: str, index: int) -> str:
    """``<deployment>-<hash>-<5 chars>``, the prefix cut to 58 characters as the API server cuts a
    ``generateName``, so a long Deployment name still gives a valid Pod name."""
    suffix = hashlib.sha256(f"{deployment}/{template_hash}/{index}".encode()).hexdigest()[:5]
    return f"{f'{deployment}-{template_hash}-'[:58]}{suffix}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodMirror:
    """Creates, updates and deletes one Deployment's Pod objects to match the groups it is given."""

    def __init__(self, client: KubeClient, namespace: str, deployment: str) -> None:
        self.client = client
        self.namespace = namespace
        self.deployment = deployment
        self._pods: dict[str, bool] = {}  # name -> ready, as last written

    def _path(self, name: str | None = None) -> str:
        return resource_path("v1", "pods", self.namespace, name)

    async def sync(self, deployment: Mapping[str, Any], groups: list[PodGroup]) -> None:
        """Best effort: failures are logged, never raised (the pods are only for show)."""
        try:
            await self._sync(deployment, groups)
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.debug("pods of %s/%s: %s", self.namespace, self.deployment, exc)

    async def _sync(self, deployment: Mapping[str, Any], groups: list[PodGroup]) -> None:
        wanted = {pod_name(self.deployment, g.template_hash, i): g for g in groups for i in range(g.count)}
        for name in [n for n in self._pods if n not in wanted]:
            try:
                await self.client.delete(self._path(name))
            except ApiError as exc:
                if exc.status != 404:
                    raise
            del self._pods[name]
        for name, group in wanted.items():
            if name not in self._pods:
                await self.client.create(self._path(), self._pod(deployment, name, group.template_hash))
                self._pods[name] = False
            if self._pods[name] != group.ready:
                containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
                    "containers"
                ) or []
                await self.client.patch_status(self._path(name), self._status(group.ready, containers))
                self._pods[name] = group.ready

    def _pod(self, deployment: Mapping[str, Any], name: str, template_hash: str) -> JSON:
        template = (deployment.get("spec") or {}).get("template") or {}
        meta = deployment.get("metadata") or {}
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            "pod-template-hash": template_hash,
        }
        owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.deployment, "uid": meta.get("uid", ""),
                 "controller": True, "blockOwnerDeletion": True}  # fmt: skip
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": {**(template.get("spec") or {}), "nodeName": "sandbox"},
        }

    def _status(self, ready: bool, containers: list[JSON]) -> JSON:
        flag = "True" if ready else "False"
        state = {"running": {"startedAt": _now()}} if ready else {"waiting": {"reason": "ContainerCreating"}}
        statuses = [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": ready,
                "started": ready,
                "restartCount": 0,
                "state": state,
            }
            for c in containers
        ]
        return {
            "containerStatuses": statuses,
            "phase": "Running" if ready else "Pending",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": _now(),
            "conditions": [
                {
                    "type": kind,
                    "status": "True" if kind == "PodScheduled" else flag,
                    "lastTransitionTime": _now(),
                }
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
        }

    async def delete_all(self) -> None:
        await self.sync({}, [])
