"""The signing key and certificates of generators/provenance/c2pa.py, made on first use with `cryptography`: a root
CA, whose private key is dropped once it has issued the leaf, and an ES256 leaf with the key usage and EKU that c2pa
accepts, kept in a private folder outside the repo (PLAYGROUND_C2PA_DIR, default ~/.cache/genai-playground/c2pa),
unless the deployer supplies PEM files (PLAYGROUND_C2PA_KEY and PLAYGROUND_C2PA_CERTS)."""

import datetime
import os
import re
import threading
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generators.core.errors import ModelUnavailable

DEFAULT_DIR = Path.home() / ".cache" / "genai-playground" / "c2pa"
_SETTINGS = {"builder": {"thumbnail": {"enabled": False}},  # no thumbnail: the manifest stays under 3 KB
             "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,  # an upload never makes us fetch a URL
                        "verify_after_sign": False}}  # it was ~9.5 of a signature's ~11 ms; the tests verify ours
_lock = threading.Lock()
_made: dict = {}  # (what, pid) -> c2pa objects; they do not survive a fork, so each process makes its own


def _certificate(subject: str, issuer: x509.Name | None, public_key, issuer_key, ca: bool) -> x509.Certificate:
    """An X.509 v3 certificate (RFC 5280): a CA that may only sign certificates, or a leaf that signs content."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "genai-playground (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
         .add_extension(x509.KeyUsage(**usage), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if not ca:  # C2PA's certificate profile wants an EKU on the signer; c2pa accepts emailProtection by default
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def create_credentials(folder: Path) -> Path:
    """A new root CA and ES256 leaf in `folder` (mode 0700): signer.pem (leaf key + leaf cert, mode 0600), root.pem.

    Key and certificate share one file, written under a temporary name and renamed, so two processes starting at
    once never pair one's key with the other's certificate. The leaf alone goes into manifests (x5chain): a trust
    anchor is not sent with the signature. Returns the path of signer.pem.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _certificate("genai-playground root CA", None, root_key.public_key(), root_key, ca=True)
    leaf = _certificate("genai-playground image signer", root.subject, leaf_key.public_key(), root_key, ca=False)
    pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()) + leaf.public_bytes(serialization.Encoding.PEM)
    tmp = folder / f".signer-{os.getpid()}-{threading.get_ident()}.pem"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(pem)
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, folder / "signer.pem")
    return folder / "signer.pem"


def _pem(data: bytes, kind: bytes) -> bytes:
    return b"".join(m.group(0) for m in re.finditer(rb"-----BEGIN (%s)-----.+?-----END \1-----\n?" % kind, data, re.S))


def _read_credentials() -> tuple[bytes, bytes, bool]:
    """(private key PEM, certificate chain PEM, self_signed): the deployer's files, else ours, made if missing."""
    key_path, certs_path = os.environ.get("PLAYGROUND_C2PA_KEY"), os.environ.get("PLAYGROUND_C2PA_CERTS")
    ours = Path(os.environ.get("PLAYGROUND_C2PA_DIR") or DEFAULT_DIR) / "signer.pem"
    where = f"{key_path}, {certs_path}" if key_path or certs_path else str(ours)
    try:
        if key_path or certs_path:
            key, certs = Path(key_path or "").read_bytes(), Path(certs_path or "").read_bytes()
        else:
            key = certs = ours.read_bytes() if ours.exists() else create_credentials(ours.parent).read_bytes()
    except OSError as e:
        raise ModelUnavailable("provenance_key", path=where, reason=e.strerror or type(e).__name__)
    key, certs = _pem(key, rb"[A-Z ]*PRIVATE KEY"), _pem(certs, rb"CERTIFICATE")
    if not key or not certs:
        raise ModelUnavailable("provenance_key", path=where, reason="no PEM private key and certificate")
    return key, certs, not (key_path or certs_path)


def _algorithm(key_pem: bytes) -> c2pa.C2paSigningAlg:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: c2pa.C2paSigningAlg.ES256, 384: c2pa.C2paSigningAlg.ES384, 521: c2pa.C2paSigningAlg.ES512}[
            key.curve.key_size]
    return c2pa.C2paSigningAlg.ED25519 if isinstance(key, ed25519.Ed25519PrivateKey) else c2pa.C2paSigningAlg.PS256


def context() -> c2pa.Context:
    """The c2pa Context that signs and reads (no thumbnails, no network), one per process."""
    pid = os.getpid()
    with _lock:
        if ("context", pid) not in _made:
            _made[("context", pid)] = c2pa.Context(c2pa.Settings.from_dict(_SETTINGS))
        return _made[("context", pid)]


def signer() -> tuple[c2pa.Signer, str, bool]:
    """(c2pa.Signer, leaf certificate serial, self_signed): made once per process (thread-safe), cheap after."""
    pid = os.getpid()
    if ("signer", pid) not in _made:
        with _lock:
            if ("signer", pid) not in _made:
                key, certs, self_signed = _read_credentials()
                try:
                    made = c2pa.Signer.from_info(c2pa.C2paSignerInfo(_algorithm(key), certs, key, None))
                    serial = str(x509.load_pem_x509_certificates(certs)[0].serial_number)
                except (ValueError, KeyError, TypeError, AttributeError, c2pa.C2paError) as e:
                    raise ModelUnavailable("provenance_key", path="PLAYGROUND_C2PA_*", reason=str(e)[:200])
                _made[("signer", pid)] = (made, serial, self_signed)
    return _made[("signer", pid)]


