"""The vendored reference CRDs are the workplace's originals, byte for byte, where those exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference_data import REFERENCE_CRD_FILES, SHARED_CRDS


@pytest.mark.skipif(not SHARED_CRDS.is_dir(), reason="no ../shared/reference/crds beside this clone")
@pytest.mark.parametrize("vendored", REFERENCE_CRD_FILES, ids=lambda p: p.name)
def test_vendored_copy_matches_the_original(vendored: Path) -> None:
    assert vendored.read_bytes() == (SHARED_CRDS / vendored.name).read_bytes()


def test_every_reference_crd_is_vendored() -> None:
    assert all(path.is_file() for path in REFERENCE_CRD_FILES)
