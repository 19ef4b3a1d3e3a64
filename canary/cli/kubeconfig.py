"""How every `canary` verb finds its cluster and namespace, the way kubectl does.

``--kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``, else in-cluster), ``--context``
(else the current context), and ``-n`` (else the context's namespace, else ``default``).
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from canary.kube import KubeClients

__all__ = ["clients_and_namespace"]

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def clients_and_namespace(
    kubeconfig: str | None, context: str | None, namespace: str | None
) -> tuple[KubeClients, str]:
    """API clients for the chosen cluster and the namespace a verb should use."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        default = _context_namespace(path, context)
    except ConfigException:
        if kubeconfig or context:
            raise
        config.load_incluster_config(client_configuration=configuration)
        default = IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
    return KubeClients.from_api_client(client.ApiClient(configuration)), namespace or default


def _context_namespace(path: str | None, context: str | None) -> str:
    contexts, active = config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")
