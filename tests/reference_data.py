"""Where the reference schemas live: vendored in the repository, so a plain clone can run the tests.

Flagger's and Istio's CRDs are in `tests/reference/crds/`; the Gateway API HTTPRoute CRD is package
data of the sandbox (`canary/sandbox/crds/`), which installs it. Sources and licences:
`tests/reference/crds/README.md`. `SHARED_CRDS` is the workplace's original copy, when present.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENDORED = REPO / "tests" / "reference" / "crds"
HTTPROUTE_CRD = REPO / "canary" / "sandbox" / "crds" / "gateway.networking.k8s.io_httproutes.yaml"
FLAGGER_CRDS = VENDORED / "flagger.app_crds.yaml"
ISTIO_CRDS = VENDORED / "networking.istio.io_virtualservices_destinationrules.yaml"
#: Every reference CRD file, as the real projects ship them.
REFERENCE_CRD_FILES = (HTTPROUTE_CRD, FLAGGER_CRDS, ISTIO_CRDS)
#: The originals beside the checkout in the development workplace (absent in a user's clone).
SHARED_CRDS = Path(os.environ.get("CANARY_SHARED_DIR") or REPO.parent / "shared") / "reference" / "crds"
