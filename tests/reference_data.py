"""Where the reference schemas live: `../shared/reference/crds` beside the repository checkout.

CI clones the repository into a fresh folder with a copy of `shared/` beside it, so the path is
resolved from this file, never hard-coded. CANARY_SHARED_DIR overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CANARY_SHARED_DIR") or REPO.parent / "shared")
REFERENCE_CRDS = SHARED / "reference" / "crds"
HTTPROUTE_CRD = REFERENCE_CRDS / "gateway.networking.k8s.io_httproutes.yaml"
FLAGGER_CRDS = REFERENCE_CRDS / "flagger.app_crds.yaml"
ISTIO_CRDS = REFERENCE_CRDS / "networking.istio.io_virtualservices_destinationrules.yaml"

if not REFERENCE_CRDS.is_dir():
    raise RuntimeError(f"reference CRDs not found at {REFERENCE_CRDS}; set CANARY_SHARED_DIR")
