"""canary: progressive delivery for Kubernetes, judged by Prometheus."""
