"""Marks on our images: a signed PNG/GIF validates and says what made it, an edited one does not, an unsigned one is
absent, and bad uploads are answered with a key. Keys are made in a temporary folder, never in the real home cache."""

import io
import os
import stat
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image

from generators.core.errors import InputError, ModelUnavailable
from generators.provenance import c2pa as provenance, credentials
from ui.kit.images import gif_bytes, png_bytes

SETTINGS = {"digit": 7, "seed": 3, "truncation": 0.8}


@pytest.fixture(autouse=True)
def keys(tmp_path, monkeypatch):
    """A fresh process's view: no signer made yet, keys in tmp_path/c2pa (and the default folder moved there too)."""
    monkeypatch.setattr(credentials, "_made", {})
    monkeypatch.setattr(credentials, "DEFAULT_DIR", tmp_path / "default-must-stay-unused")
    monkeypatch.setenv("PLAYGROUND_C2PA_DIR", str(tmp_path / "c2pa"))
    monkeypatch.delenv("PLAYGROUND_C2PA_KEY", raising=False)
    monkeypatch.delenv("PLAYGROUND_C2PA_CERTS", raising=False)
    yield tmp_path / "c2pa"
    assert not (tmp_path / "default-must-stay-unused").exists()


def digit(seed: int = 0) -> np.ndarray:
    """A (28, 28) uint8 blob that looks nothing like noise: a bright disc at a seeded place."""
    rng = np.random.default_rng(seed)
    cy, cx = rng.integers(8, 20, size=2)
    yy, xx = np.mgrid[:28, :28]
    return (np.clip(1 - np.hypot(yy - cy, xx - cx) / 7, 0, 1) * 255).astype(np.uint8)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 8
    while i < len(data):
        n, tag = struct.unpack(">I4s", data[i:i + 8])
        out.append((tag, data[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def join(parts) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
                                           for t, d in parts)


def test_signed_png_validates_and_says_what_made_it():
    plain = png_bytes(digit())
    signed = provenance.mark(plain, "png", generator="gan", settings=SETTINGS)
    r = provenance.verify(signed)
    assert (r["c2pa"], r["generator"], r["digital_source_type"], r["claims_from"]) == \
        ("valid", "gan", provenance.SOURCE_TYPE, "c2pa")
    m = r["manifest"]
    assert m["settings"] == SETTINGS and m["self_signed"] is True and m["signed_by_this_playground"] is True
    assert m["trusted"] is False and m["failures"] == ["signingCredential.untrusted"]  # valid, but on no trust list
    assert "assertion.dataHash.match" in m["successes"] and "claimSignature.validated" in m["successes"]
    assert "self-signed" in m["issuer"]
    assert r["metadata"]["png_text"]["DigitalSourceType"] == provenance.SOURCE_TYPE and r["metadata"]["xmp"]
    assert (r["format"], r["width"], r["height"]) == ("PNG", 28, 28)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(signed))), digit())  # the marks leave the pixels alone


def test_byte_edited_png_is_invalid(tmp_path):
    signed = provenance.mark(png_bytes(digit()), "png", generator="gan", settings=SETTINGS)
    parts = chunks(signed)
    i = next(k for k, (t, _) in enumerate(parts) if t == b"IDAT")
    edited = bytearray(parts[i][1])
    edited[len(edited) // 2] ^= 1
    parts[i] = (b"IDAT", bytes(edited))  # a well-formed PNG (CRC recomputed) with one byte of pixel data changed
    path = tmp_path / "edited.png"
    path.write_bytes(join(parts))
    r = provenance.verify(str(path))
    assert r["c2pa"] == "invalid" and "assertion.dataHash.mismatch" in r["manifest"]["failures"]
    assert r["claims_from"] == "metadata"  # the unsigned metadata still says so, and is reported as only that

    raw = bytearray(signed)
    raw[signed.index(b"caBX") + 1500] ^= 1  # inside the manifest; the chunk's CRC is now wrong too
    assert provenance.verify(bytes(raw))["c2pa"] == "invalid"


def test_unsigned_and_stripped_images_are_absent():
    for plain in (png_bytes(digit()), gif_bytes([Image.fromarray(digit(s)) for s in range(3)])):
        r = provenance.verify(plain)
        assert (r["c2pa"], r["generator"], r["digital_source_type"], r["claims_from"]) == ("absent", None, None, None)
    jpeg = io.BytesIO()
    Image.fromarray(digit()).save(jpeg, format="JPEG")
    assert provenance.verify(jpeg.getvalue())["c2pa"] == "absent"

    signed = provenance.mark(png_bytes(digit()), "png", generator="vae", settings={})
    stripped = provenance.verify(join([c for c in chunks(signed) if c[0] != b"caBX"]))
    assert stripped["c2pa"] == "absent" and stripped["generator"] == "vae" and stripped["claims_from"] == "metadata"
    unsigned = provenance.verify(provenance.mark(png_bytes(digit()), "png", generator="vae", settings={}, sign=False))
    assert (unsigned["c2pa"], unsigned["digital_source_type"], unsigned["claims_from"]) == \
        ("absent", provenance.SOURCE_TYPE, "metadata")


def test_gif_round_trip():
    frames = [Image.fromarray(digit(s)) for s in range(4)]
    plain = gif_bytes(frames)
    signed = provenance.mark(plain, "gif", generator="vae-morph", settings={"steps": 4, "a": 1, "b": 2})
    r = provenance.verify(signed)
    assert (r["c2pa"], r["generator"], r["digital_source_type"]) == ("valid", "vae-morph", provenance.SOURCE_TYPE)
    assert r["manifest"]["settings"] == {"steps": 4, "a": 1, "b": 2}
    assert r["metadata"]["xmp"] and r["metadata"]["digital_source_type"] == provenance.SOURCE_TYPE
    before, after = Image.open(io.BytesIO(plain)), Image.open(io.BytesIO(signed))
    assert after.n_frames == before.n_frames == 6 and after.info["loop"] == 0  # 4 frames, bounced
    for k in range(after.n_frames):
        before.seek(k), after.seek(k)
        assert np.array_equal(np.asarray(before.convert("L")), np.asarray(after.convert("L")))
    edited = bytearray(signed)
    edited[-10] ^= 1  # inside the last frame's pixel data
    assert provenance.verify(bytes(edited))["c2pa"] == "invalid"


def png_header(w: int, h: int) -> bytes:
    return join([(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)), (b"IDAT", zlib.compress(b"\0" * 9)),
                 (b"IEND", b"")])


@pytest.mark.parametrize("upload, key", [
    (b"", "provenance_not_image"),
    (b"just some text, not an image\n" * 20, "provenance_not_image"),
    (np.random.default_rng(0).bytes(4096), "provenance_not_image"),
    (b"\x89PNG\r\n\x1a\n", "provenance_not_image"),  # a PNG signature and nothing else
    (None, "provenance_no_file"),
    (42, "provenance_no_file"),
    ("/no/such/file.png", "provenance_no_file"),
    (png_header(5000, 5000), "provenance_too_large"),  # 25 M pixels, under Pillow's own cap: ours refuses it
    (png_header(100_000, 100_000), "provenance_too_large"),  # over Pillow's: refused before it says the size
])
def test_bad_uploads_are_answered_with_a_key(upload, key):
    with pytest.raises(InputError) as e:
        provenance.verify(upload)
    assert e.value.key == key
    if key == "provenance_too_large":
        assert int(e.value.fields["pixels"]) > provenance.MAX_PIXELS


def test_mangled_files_get_a_verdict_or_a_key():
    rng = np.random.default_rng(0)
    gif = gif_bytes([Image.fromarray(digit(s)) for s in range(2)])
    files = [provenance.mark(png_bytes(digit()), "png", generator="gan", settings={}),
             provenance.mark(gif, "gif", generator="gan", settings={})]
    for k in range(40):
        data = bytearray(files[k % 2])
        at = int(rng.integers(len(data)))
        if k % 4 == 0:
            data = data[:at]
        elif k % 4 == 1:
            data[at:at] = rng.bytes(int(rng.integers(1, 40)))
        else:
            data[at] = int(rng.integers(256))
        try:
            assert provenance.verify(bytes(data))["c2pa"] in ("valid", "invalid", "absent")
        except InputError as e:
            assert e.key.startswith("provenance_")


def test_text_file_truncated_files_and_size_cap(tmp_path, monkeypatch):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(InputError, match="provenance_not_image"):
        provenance.verify(text)
    signed = provenance.mark(png_bytes(digit()), "png", generator="gan", settings={})
    for cut in (200, len(signed) // 2, len(signed) - 5):
        assert provenance.verify(signed[:cut])["c2pa"] == "invalid"  # a manifest is there; the file is not whole
    assert provenance.verify(png_bytes(digit())[:100])["c2pa"] == "absent"  # a cut file with no manifest
    monkeypatch.setattr(provenance, "MAX_BYTES", 1000)
    (tmp_path / "big.png").write_bytes(signed)
    with pytest.raises(InputError, match="provenance_file_too_large"):
        provenance.verify(tmp_path / "big.png")


def test_keys_are_made_once_privately_and_chain_to_their_root(keys):
    with ThreadPoolExecutor(4) as pool:  # the first calls race: one signer, one key file
        made = list(pool.map(lambda _: provenance.signer(), range(8)))
    assert all(m is made[0] for m in made)
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(keys / "signer.pem").st_mode) == 0o600
    assert sorted(p.name for p in keys.iterdir()) == ["root.pem", "signer.pem"]
    written = (keys / "signer.pem").read_bytes()
    provenance.mark(png_bytes(digit()), "png", generator="gan", settings={})
    credentials._made.clear()  # a new process reuses the key on disk
    assert provenance.signer()[1] == made[0][1] and (keys / "signer.pem").read_bytes() == written
    assert b"PRIVATE KEY" not in (keys / "root.pem").read_bytes()  # the root's key is not kept

    leaf = x509.load_pem_x509_certificate(written)
    root = x509.load_pem_x509_certificate((keys / "root.pem").read_bytes())
    leaf.verify_directly_issued_by(root)
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_deployer_keys_and_other_signers(tmp_path, monkeypatch):
    theirs = provenance.create_credentials(tmp_path / "deployer")
    monkeypatch.setenv("PLAYGROUND_C2PA_KEY", str(theirs))
    monkeypatch.setenv("PLAYGROUND_C2PA_CERTS", str(theirs))
    signed = provenance.mark(png_bytes(digit()), "png", generator="gan", settings={})
    assert not (tmp_path / "c2pa").exists()  # nothing made when the deployer gives the key
    r = provenance.verify(signed)
    assert r["c2pa"] == "valid" and r["manifest"]["self_signed"] is False

    monkeypatch.delenv("PLAYGROUND_C2PA_KEY"), monkeypatch.delenv("PLAYGROUND_C2PA_CERTS")
    credentials._made.clear()  # this playground, with its own key, checks a file someone else signed
    r = provenance.verify(signed)
    assert r["c2pa"] == "valid" and r["manifest"]["signed_by_this_playground"] is False

    credentials._made.clear()
    monkeypatch.setenv("PLAYGROUND_C2PA_KEY", str(tmp_path / "missing.pem"))
    with pytest.raises(ModelUnavailable, match="provenance_key"):
        provenance.mark(png_bytes(digit()), "png", generator="gan", settings={})


def test_mark_refuses_what_it_cannot_mark():
    with pytest.raises(InputError, match="choice"):
        provenance.mark(png_bytes(digit()), "jpeg", generator="gan", settings={})
    with pytest.raises(InputError, match="provenance_mark_format"):
        provenance.mark(png_bytes(digit()), "gif", generator="gan", settings={})
