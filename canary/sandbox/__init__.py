"""A local, container-less stand-in for a Kubernetes cluster, for demos and tests.

Shipped with the product but never imported by the operator. Pieces (each usable alone):

- ``apiserver``: the Kubernetes API emulator (in-memory, real REST API);
- ``workloads``: kube-controller-manager + kubelet for Deployments/HPAs; every Deployment runs
  ``demoapp`` whatever its image (version = image tag; tags ending ``-bad``/``-slow``/``-crash``
  misbehave; env ``DEMO_ERROR_RATE``/``DEMO_LATENCY_MS``/``DEMO_CRASH`` override);
- ``dataplane`` + ``routing`` + ``telemetry``: synthetic traffic routed by HTTPRoutes (also Istio
  VirtualServices, NGINX canary Ingresses, plain Services), reported as Istio metrics;
- ``prometheus``: a real Prometheus child process scraping all of the above;
- ``sandbox``: ``Sandbox`` / ``SandboxThread`` composing everything; ``cli``: ``canary sandbox``.
"""
