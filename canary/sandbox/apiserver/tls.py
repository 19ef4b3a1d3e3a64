"""A self-signed serving certificate for the emulator's HTTPS listener.

Why HTTPS at all: client-go (kubectl) reads a kubeconfig user's credentials - token, ``--token``,
``--as`` - only when the server URL is ``https`` (``clientcmd``'s ``IsConfigTransportTLS``), so over
plain http kubectl is always ``system:anonymous``.  The kubeconfig therefore points at an HTTPS port
with this certificate as ``certificate-authority-data`` (SANs 127.0.0.1, ::1 and localhost); the
plain-http port stays for in-process callers.  One certificate per process, made with the
``openssl`` command (None when it is missing: kubeconfigs then use plain http).

The same certificate is the CA of client certificates, as kubeadm/kind admin kubeconfigs carry one
(``CN=system:admin``, ``O=system:masters``): kube's x509 authenticator maps CN to the user and O to
groups.  The admin kubeconfig has both that and the admin token, so clients that pass on only one of
the two (kopf's login, given a client configuration) still authenticate.
"""

from __future__ import annotations

import atexit
import functools
import secrets
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    cert_path: Path
    key_path: Path

    @property
    def pem(self) -> bytes:
        return self.cert_path.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key_path.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        """Serve with this certificate; verify client certificates it signed, when one is offered."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=str(self.cert_path))
        return context


def _run(command: list[str]) -> bool:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


@functools.cache
def client_certificate(user: str, groups: tuple[str, ...]) -> Certificate | None:
    """A client certificate for ``user`` in ``groups`` (CN and O), signed by :func:`certificate`."""
    ca = certificate()
    if ca is None:
        return None
    workdir = ca.cert_path.parent
    stem = f"client-{len(list(workdir.glob('client-*.crt')))}"
    key, csr, cert, ext = (workdir / f"{stem}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text("extendedKeyUsage=clientAuth\n")
    subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
    openssl = shutil.which("openssl") or "openssl"
    made = _run([openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-subj", subject, "-keyout", str(key), "-out", str(csr)]) and _run(
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca.cert_path), "-CAkey", str(ca.key_path),
         "-set_serial", str(secrets.randbelow(2**62) + 2), "-days", "3650", "-extfile", str(ext),
         "-out", str(cert)])  # fmt: skip
    return Certificate(cert, key) if made else None


def peer_identity(peercert: object) -> tuple[str, tuple[str, ...]] | None:
    """CN and O values of a verified client certificate (``SSLSocket.getpeercert()``), else None."""
    if not isinstance(peercert, dict) or not peercert.get("subject"):
        return None
    names = [(k, v) for rdn in peercert["subject"] for k, v in rdn]
    common = [v for k, v in names if k == "commonName"]
    if not common:
        return None
    return common[0], tuple(v for k, v in names if k == "organizationName")


@functools.cache
def certificate() -> Certificate | None:
    """The process's serving certificate, created on first use."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="canary-sandbox-tls-"))
    atexit.register(shutil.rmtree, workdir, True)
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "3650", "-subj", "/CN=canary-sandbox-apiserver", "-keyout", str(key), "-out", str(cert),
        "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
    ]  # fmt: skip
    return Certificate(cert, key) if _run(command) else None
