"""`canary validate` refuses offline what the API server refuses: the same catalogue, the same paths.

Every bad manifest of ``tests/bad_manifests.py`` (the one ``tests/sandbox/test_bad_input_catalogue``
applies with kubectl) must fail with a line naming its field path and message; every good one must
pass; and Flagger's examples, converted by their apiVersion alone, must pass with warnings only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from bad_manifests import ACCEPTED, GOOD, REFUSED, manifest

from canary.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[1] / "api" / "flagger_examples"
CANARY_BIN = Path(sys.executable).parent / "canary"


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Exit code and stdout lines (the summary on stderr stays readable with capsys.readouterr())."""
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    sys.stderr.write(err)
    return code, out.splitlines()


def write(path: Path, *docs: Any) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if ": warning: " not in line]


@pytest.mark.parametrize(
    ("index", "modify", "path", "fragment"),
    [(i, *case[1:]) for i, case in enumerate(REFUSED)],
    ids=[case[0] for case in REFUSED],
)
def test_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int, modify: Any, path: str, fragment: str
) -> None:
    file = write(tmp_path / "bad.yaml", manifest(f"bad-{index}", modify))
    code, lines = validate(capsys, file)
    assert code == 1, lines
    prefix = f"{file}:0 Canary/bad-{index}: {path}: "
    assert any(line.startswith(prefix) and fragment in line for line in lines), lines


@pytest.mark.parametrize("modify", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str], modify: Any) -> None:
    code, lines = validate(capsys, write(tmp_path / "good.yaml", manifest("good", modify)))
    assert code == 0, lines
    assert errors(lines) == [], lines


def test_good_manifest_has_only_warnings_for_fields_not_implemented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "good.yaml", GOOD)
    code, lines = validate(capsys, file)
    assert code == 0
    prefix = f"{file}:0 Canary/podinfo: "
    assert lines and all(line.startswith(prefix) and ": warning: " in line for line in lines), lines
    assert any(line.startswith(prefix + "spec.analysis.sessionAffinity: warning: ") for line in lines), lines


def _converted(tmp_path: Path) -> Path:
    out = tmp_path / "converted"
    out.mkdir()
    for example in sorted(EXAMPLES.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
        for doc in docs:
            assert doc["apiVersion"] == "flagger.app/v1beta1"
            doc["apiVersion"] = "canary.dev/v1alpha1"
        write(out / example.name, *docs)
    return out


def test_flagger_examples_converted_by_api_version_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converted = _converted(tmp_path)
    code, lines = validate(capsys, str(converted))  # a directory: every *.yaml in it
    assert code == 0, errors(lines)
    assert errors(lines) == []
    assert any(line.startswith(f"{converted / 'istio-canary.yaml'}:0 Canary/podinfo: ") for line in lines)
    documents = sum(
        1 for example in EXAMPLES.glob("*.yaml") for doc in yaml.safe_load_all(example.read_text()) if doc
    )
    assert f"{documents} document(s) checked, 0 error(s)" in capsys.readouterr().err


def test_flagger_api_version_gets_the_hint(capsys: pytest.CaptureFixture[str]) -> None:
    file = str(EXAMPLES / "metrictemplates.yaml")
    code, lines = validate(capsys, file)
    assert code == 1
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "metrictemplates.yaml").read_text()) if d]
    hints = [line for line in lines if "change apiVersion to canary.dev/v1alpha1" in line]
    assert len(hints) == len(docs) == len(errors(lines)), lines
    assert hints[0].startswith(f"{file}:0 MetricTemplate/not-found-percentage: apiVersion: ")


def test_alert_providers_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Flagger's AlertProviders pass once converted; one without address or secretRef does not."""
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "alertproviders.yaml").read_text()) if d]
    for doc in docs:
        doc["apiVersion"] = "canary.dev/v1alpha1"
    nowhere = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "AlertProvider",
        "metadata": {"name": "nowhere"},
        "spec": {"type": "slack", "channel": "general"},
    }
    wrong_type = {**nowhere, "metadata": {"name": "pager"}, "spec": {"type": "pager", "address": "https://x"}}
    assert validate(capsys, write(tmp_path / "good.yaml", *docs)) == (0, [])
    code, lines = validate(capsys, write(tmp_path / "bad.yaml", nowhere, wrong_type))
    assert code == 1
    assert any(
        line.startswith(f"{tmp_path}/bad.yaml:0 AlertProvider/nowhere: spec: ")
        and "address or secretRef" in line
        for line in lines
    )
    assert any(line.startswith(f"{tmp_path}/bad.yaml:1 AlertProvider/pager: spec.type: ") for line in lines)


def test_other_kinds_are_skipped_and_documents_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Not_Checked"}}
    bad = manifest("web", lambda obj: obj["spec"]["analysis"].update(stepWeight=0))
    template = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "latency"},
        "spec": {"provider": {"type": "prometheus"}, "query": ""},
    }
    file = write(tmp_path / "all.yaml", deployment, None, bad, template)
    code, lines = validate(capsys, file)
    assert code == 1
    found = errors(lines)
    assert f"{file}:2 Canary/web: spec.analysis.stepWeight: " in found[0], found
    assert any(line.startswith(f"{file}:3 MetricTemplate/latency: spec.query: ") for line in found), found
    assert not any("Deployment" in line or ":0 " in line for line in lines), lines


def test_unreadable_input_and_bad_yaml_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Canary\nspec: [\n")
    code, lines = validate(capsys, str(broken), str(tmp_path / "absent.yaml"))
    assert code == 1
    assert lines[0].startswith(f"{broken}:0: invalid YAML: "), lines
    assert lines[1].startswith(f"{tmp_path / 'absent.yaml'}: cannot read"), lines


def test_the_installed_command_reads_every_bad_manifest_from_stdin() -> None:
    """One process, one multi-document stream on stdin: each document is refused at its path."""
    docs = [manifest(f"bad-{i}", case[1]) for i, case in enumerate(REFUSED)]
    docs.append(manifest("good", lambda obj: None))
    proc = subprocess.run(
        [str(CANARY_BIN), "validate", "-"],
        input=yaml.safe_dump_all(docs),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    for i, (case_id, _, path, fragment) in enumerate(REFUSED):
        prefix = f"-:{i} Canary/bad-{i}: {path}: "
        assert any(line.startswith(prefix) and fragment in line for line in lines), (case_id, lines)
    good = f"-:{len(REFUSED)} Canary/good: "
    assert all(": warning: " in line for line in lines if line.startswith(good)), lines
    assert f"{len(docs)} document(s) checked" in proc.stderr


def test_the_installed_command_accepts_the_good_manifest(tmp_path: Path) -> None:
    file = write(tmp_path / "good.yaml", GOOD)
    proc = subprocess.run([str(CANARY_BIN), "validate", file], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
