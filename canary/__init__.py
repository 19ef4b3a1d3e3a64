"""canary: progressive delivery for Kubernetes, judged by Prometheus."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("canary")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.0.0"
