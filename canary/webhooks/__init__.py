"""Webhook calls: Flagger's payload POSTed to each hook's URL, answers handed to the core.

The core decides which hooks to ask and what their answers mean (:mod:`canary.core.hooks`);
this edge only calls them, the way Flagger's ``pkg/controller/webhook.go`` does:

* ``POST`` of ``{name, namespace, phase, checksum, metadata}`` as JSON; a 2xx answer is success.
* ``timeout`` per attempt (10s by default), ``retries`` more attempts after a connection error, a
  timeout or a 5xx, with a short back-off (each tick waits for them, so both are bounded).
* TLS certificates are verified unless ``disableTLS``; redirects are not followed (a 3xx fails).
* Messages name the status code or the connection error, never the response body: whoever
  writes a Canary chooses the URL, and the operator must not read other services' pages back
  into a status they can see. The allow-list (``canary operator --webhook-url-allow``, off by
  default) limits where the operator sends requests at all.
* Proxies come from the standard ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` variables, as for any
  HTTP client (the sandbox serves cluster DNS names this way).
"""

from canary.webhooks.client import (
    WEBHOOK_ALLOW_ENV_VAR,
    WebhookCaller,
    checksum,
    event_payload,
    payload,
)

__all__ = ["WEBHOOK_ALLOW_ENV_VAR", "WebhookCaller", "checksum", "event_payload", "payload"]
