"""Admission refuses what can never work: each bad Canary through the real ``kubectl apply -f -``.

One API emulator for the whole module, the CRDs generated from the models (as the sandbox installs
them), one kubectl call per case. A refused case must fail with HTTP 422 (or 400 for an unknown
field, kubectl's strict field validation) and kubectl must print the field path and the message
fragment; every case in ``ACCEPTED`` must be created, so the catalogue can fail both ways. The
catalogue itself lives in ``tests/bad_manifests.py`` (``canary validate`` is tested on it too).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from bad_manifests import ACCEPTED, REFUSED, Manifest, Modifier
from bad_manifests import manifest as _manifest
from pydantic import ValidationError

from canary.api import Canary
from canary.api.crdgen import all_crds
from canary.sandbox.apiserver import ApiServerThread

Apply = Callable[[Manifest], "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apply]:
    tmp: Path = tmp_path_factory.mktemp("catalogue")
    with ApiServerThread(history_size=64) as server:
        kubeconfig = tmp / "kubeconfig.yaml"
        server.write_kubeconfig(kubeconfig)

        def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
            cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp / "cache"), *args]
            return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)

        crds = run("apply", "-f", "-", stdin=yaml.safe_dump_all(all_crds()))
        assert crds.returncode == 0, crds.stderr

        def apply(obj: Manifest) -> subprocess.CompletedProcess[str]:
            # -v=6 logs each request with its status code, so the test sees the 422 itself.
            return run("apply", "-v=6", "-f", "-", stdin=yaml.safe_dump(obj))

        yield apply


def test_catalogue_is_large_and_unique() -> None:
    assert len(REFUSED) >= 45
    ids = [case[0] for case in REFUSED] + [case[0] for case in ACCEPTED]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("index", "modify", "path", "fragment"),
    [(i, *case[1:]) for i, case in enumerate(REFUSED)],
    ids=[case[0] for case in REFUSED],
)
def test_refused(kubectl: Apply, index: int, modify: Modifier, path: str, fragment: str) -> None:
    name = f"bad-{index}"
    proc = kubectl(_manifest(name, modify))
    assert proc.returncode != 0, f"accepted: {proc.stdout}"
    log = proc.stderr
    printed = "\n".join(line for line in log.splitlines() if not re.match(r"^I\d{4} ", line))
    if fragment.startswith("unknown field"):
        assert "400 Bad Request" in log, log
        assert f"strict decoding error: {fragment}" in printed, printed
        return
    assert "422 Unprocessable Entity" in log, log
    assert f'The Canary "{name}" is invalid' in printed, printed
    # One cause: 'The Canary "x" is invalid: <path>: <message>'; several: one "* <path>: ..." per line.
    causes = re.split(r"^\* |\n\* | is invalid: ", printed, flags=re.M)
    assert any(c.startswith(f"{path}: ") and fragment in c.split("\n")[0] for c in causes), printed


@pytest.mark.parametrize(
    ("index", "modify"), [(i, c[1]) for i, c in enumerate(ACCEPTED)], ids=[c[0] for c in ACCEPTED]
)
def test_accepted(kubectl: Apply, index: int, modify: Modifier) -> None:
    name = f"good-{index}"
    proc = kubectl(_manifest(name, modify))
    assert proc.returncode == 0, proc.stderr
    assert f"canary.canary.dev/{name} created" in proc.stdout


def _kube_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a kube field path (union-member tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", part) and part not in ("int", "str"):
            out += ("." if out else "") + part
    return out


#: Pydantic's lax mode coerces "9898" and "yes"; only the API server (which sees them first) refuses.
COERCED_BY_PYDANTIC = {"port a string", "skipAnalysis a string"}


@pytest.mark.parametrize(
    ("modify", "path"),
    [c[1:3] for c in REFUSED if c[0] not in COERCED_BY_PYDANTIC],
    ids=[c[0] for c in REFUSED if c[0] not in COERCED_BY_PYDANTIC],
)
def test_operator_models_refuse_the_same(modify: Modifier, path: str) -> None:
    """The operator parses with the pydantic models: every refused manifest fails there too, at
    the same field or (for cross-field rules) at an enclosing object."""
    with pytest.raises(ValidationError) as info:
        Canary.from_body(_manifest("bad", modify))
    paths = [_kube_path(tuple(e["loc"])) for e in info.value.errors()]
    assert any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in paths), paths


@pytest.mark.parametrize("modify", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_operator_models_accept_the_same(modify: Modifier) -> None:
    Canary.from_body(_manifest("good", modify))
