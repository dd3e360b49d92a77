"""The local control plane's PKI: a CA, the apiserver's serving cert, an admin client cert and
the service-account signing key, made with the openssl command line (no extra Python deps).

ECDSA P-256 keys: generating them takes milliseconds, RSA takes far longer on a busy 2-core box.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_CLUSTER_IP = "10.96.0.1"  # first address of the service range given to the apiserver


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _ec_key(path: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path), cwd=path.parent)
    path.chmod(0o600)


def _signed_cert(pki: Pki, key: Path, cert: Path, subject: str, extensions: str) -> None:
    ext = cert.with_suffix(".ext")
    ext.write_text(extensions)
    csr = cert.with_suffix(".csr")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr), cwd=pki.dir)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
        "-CAcreateserial", "-days", "365", "-sha256", "-extfile", str(ext), "-out", str(cert),
        cwd=pki.dir,
    )
    csr.unlink()
    ext.unlink()


def create(directory: Path) -> Pki:
    """Create a fresh PKI in `directory` (idempotent: an existing complete PKI is kept)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    if all(p.exists() for p in (pki.ca_cert, pki.serving_cert, pki.admin_cert, pki.sa_key, pki.sa_pub)):
        return pki
    _ec_key(pki.ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(pki.ca_key), "-subj", "/CN=ecs-operator-dev-ca",
        "-days", "365", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(pki.ca_cert), cwd=directory,
    )
    _ec_key(pki.serving_key)
    _signed_cert(
        pki, pki.serving_key, pki.serving_cert, "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        f"DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:{SERVICE_CLUSTER_IP}\n",
    )
    _ec_key(pki.admin_key)
    # O=system:masters: the admin identity every control-plane component of this dev cluster uses.
    _signed_cert(
        pki, pki.admin_key, pki.admin_cert, "/O=system:masters/CN=ecs-operator-dev-admin",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
    )
    _ec_key(pki.sa_key)
    _openssl("ec", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub), cwd=directory)
    return pki
