"""Marks on the images the playground hands out, and the checker that reads them back.

`mark` gives a PNG or GIF three marks: the IPTC digital source type "trainedAlgorithmicMedia" in XMP (and, for a
PNG, in text chunks), the model and settings that made it, and a C2PA manifest (C2PA 2.x, signed offline with
c2pa-python, no thumbnail) that binds all of it to the file's bytes by hash. `verify` reads them back from any upload.

The signing key and certificates are generators/provenance/credentials.py's. Our chain is on no trust list, and the manifest says it is
self-signed; c2pa then reports "signingCredential.untrusted", which `verify` tells apart from a failed hash or
signature: {"c2pa": "valid", "manifest": {"trusted": False, ...}} versus {"c2pa": "invalid"}.
"""

import io
import json
import os
import re
import struct
import zlib
from pathlib import Path
from xml.sax.saxutils import escape, unescape

import c2pa
from PIL import Image

from generators.core.bounded import attribute, between, block_count, gif_well_formed
from generators.core.errors import InputError, ModelUnavailable
from generators.core.limits import check_choice
from generators.runtime.budget import UPLOADS
from generators.provenance.credentials import context, create_credentials, signer  # noqa: F401 - names of the API

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"  # IPTC NewsCodes
ASSERTION = "org.genai-playground.generation"  # our manifest assertion: generator, settings, self_signed
SELF_SIGNED_NOTE = "self-signed: a certificate this playground made for itself, on no C2PA trust list"
FORMATS = ("png", "gif")
MAX_SIDE = 4096  # the checker refuses wider or taller images from their header, before anything is decoded
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MAX_BYTES = 20 * 2**20  # and larger files before they are read
VERIFY_SECONDS = 10.0  # a 20 MB signed PNG checks in well under a second; a file that takes longer is refused
HEADER_BYTES = 256 * 2**10  # what Pillow reads the size and metadata from (ours sit in the first 4 KB)
MAX_BLOCKS = 10_000  # PNG chunks or GIF (sub-)blocks: c2pa reads each through a Python callback (~30-50 us)
MAX_XMP = 64 * 2**10  # an XMP packet or text chunk longer than this is not read (ours: under 1 KB)
UNTRUSTED = {"signingCredential.untrusted"}  # the one failure that means "valid, but the signer is on no trust list"
_MIME = {"png": "image/png", "gif": "image/gif"}


# -- marking ---------------------------------------------------------------------------------------------------------

def _xmp(generator: str, settings_json: str) -> bytes:
    """An XMP packet (ISO 16684-1): the IPTC digital source type, the generator as CreatorTool, the settings."""
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
            ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
            f' xmlns:dc="http://purl.org/dc/elements/1.1/" Iptc4xmpExt:DigitalSourceType="{SOURCE_TYPE}"'
            f' xmp:CreatorTool="{escape(generator, {chr(34): "&quot;"})}"><dc:description><rdf:Alt>'
            f'<rdf:li xml:lang="x-default">{escape(settings_json)}</rdf:li></rdf:Alt></dc:description>'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="r"?>').encode()


def _png_text(key: str, text: str) -> bytes:
    """A tEXt chunk for ASCII text, else iTXt (uncompressed UTF-8): PNG spec, 11.3.4."""
    tag, data = (b"tEXt", key.encode() + b"\0" + text.encode()) if text.isascii() else \
        (b"iTXt", key.encode() + b"\0\0\0\0\0" + text.encode())
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _with_metadata(data: bytes, fmt: str, generator: str, settings_json: str) -> bytes:
    """`data` with the XMP packet (and for a PNG, text chunks) inserted before the image data; pixels untouched."""
    xmp = _xmp(generator, settings_json)
    if fmt == "png":  # right after IHDR, always the first chunk: 8 (signature) + 4 + 4 + 13 + 4 (CRC) = 33 bytes
        chunks = (_png_text("DigitalSourceType", SOURCE_TYPE) + _png_text("Generator", generator)
                  + _png_text("Settings", settings_json) + _png_text("XML:com.adobe.xmp", xmp.decode()))
        return data[:33] + chunks + data[33:]
    flags = data[10]  # GIF89a: header 6 bytes, logical screen descriptor 7, then the global colour table if any
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"  # XMP spec part 3, 1.1.2: the 258-byte magic trailer
    return data[:at] + b"\x21\xff\x0bXMP DataXMP" + xmp + trailer + data[at:]


def mark(data: bytes, fmt: str, *, generator: str, settings: dict, sign: bool = True) -> bytes:
    """A PNG or GIF (`fmt` "png" | "gif") with the digital source type, `generator` and `settings` in its metadata,
    and a signed C2PA manifest binding them to its bytes (`sign=False`: the metadata alone, ~0.02 ms, no manifest).

    >>> signed = mark(png_bytes(digit), "png", generator="gan", settings={"digit": 7, "seed": 3})
    """
    check_choice("fmt", fmt, FORMATS)
    if not data.startswith(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR" if fmt == "png" else b"GIF89a"):
        raise InputError("provenance_mark_format", fmt=fmt)
    settings_json = json.dumps(settings, sort_keys=True, default=str)
    data = _with_metadata(data, fmt, generator, settings_json)
    if not sign:
        return data
    sign_with, _, self_signed = signer()
    signing = SELF_SIGNED_NOTE if self_signed else "the deployer's certificate"
    manifest = {"claim_generator_info": [{"name": "genai-playground", "signing": signing}],
                "assertions": [{"label": ASSERTION, "data": {"generator": generator, "self_signed": self_signed,
                                                             "settings": json.loads(settings_json)}}]}
    builder = c2pa.Builder(manifest, context=context())
    builder.set_intent(c2pa.C2paBuilderIntent.CREATE, c2pa.C2paDigitalSourceType.TRAINED_ALGORITHMIC_MEDIA)
    out = io.BytesIO()
    builder.sign(sign_with, _MIME[fmt], io.BytesIO(data), out)
    return out.getvalue()


# -- checking --------------------------------------------------------------------------------------------------------

def _read(path_or_bytes) -> bytes:
    """The upload's bytes; a missing file, or one over MAX_BYTES, is refused before it is read."""
    data = bytes(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else None
    if data is None and not (isinstance(path_or_bytes, (str, os.PathLike)) and Path(path_or_bytes).is_file()):
        raise InputError("provenance_no_file")
    size = len(data) if data is not None else Path(path_or_bytes).stat().st_size
    if size > MAX_BYTES:
        raise InputError("provenance_file_too_large", mb=round(size / 2**20, 1), max_mb=MAX_BYTES // 2**20)
    return data if data is not None else Path(path_or_bytes).read_bytes()


def _header(data: bytes) -> tuple[str, int, int, dict]:
    """(format, width, height, metadata Pillow read) from the header (the first HEADER_BYTES), no pixel decoded;
    over MAX_PIXELS or MAX_SIDE is refused.

    A PNG or GIF that Pillow refuses (a chunk's CRC broken by an edit, a cut) is still read from its own header, so
    that c2pa can say what is wrong with it.
    """
    try:  # Pillow skips a GIF's stray bytes one at a time (~0.5 s a MB): it sees a prefix of a well-formed file
        if not gif_well_formed(data):
            raise ValueError("a GIF with bytes between its blocks")
        with Image.open(io.BytesIO(data[:HEADER_BYTES])) as image:
            found = image.format, image.width, image.height, dict(image.info)
    except Image.DecompressionBombError as e:  # over twice Pillow's own cap, refused before we see the size
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise InputError("provenance_too_large", pixels=pixels.group(1) if pixels else "?", max_pixels=MAX_PIXELS)
    except Exception:  # Pillow raises many kinds on non-images (UnidentifiedImageError, SyntaxError, struct.error...)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
            found = ("PNG", *struct.unpack(">II", data[16:24]), {})  # PNG spec 11.2.2: IHDR, width then height
        elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            found = ("GIF", *struct.unpack("<HH", data[6:10]), {})  # GIF89a, 18: the logical screen size
        else:
            raise InputError("provenance_not_image")
    if found[1] * found[2] > MAX_PIXELS:
        raise InputError("provenance_too_large", pixels=found[1] * found[2], max_pixels=MAX_PIXELS)
    if max(found[1], found[2]) > MAX_SIDE:  # 4097 x 1 is small, but README promises a side, not an area
        raise InputError("provenance_too_wide", width=found[1], height=found[2], max_side=MAX_SIDE)
    return found


def _ends_tag_name(following: bytes) -> bool:
    return len(following) == 1 and following in b" \t\r\n>"


def _xmp_value(xmp: str | None, name: str) -> str | None:
    found = attribute(xmp, name)
    return unescape(found, {"&quot;": '"'}) or None if found else None


def _metadata(data: bytes, info: dict) -> dict:
    """What the file's metadata claims (unsigned: anyone can write or strip it): XMP, and a PNG's text chunks.

    A packet is found by a forward scan (generators/core/bounded.py), never a regular expression over the upload,
    and one over MAX_XMP is not read: ours is under 1 KB.
    """
    xmp = info.get("xmp")  # Pillow reads a PNG's XMP; elsewhere scan for the packet (XMP spec part 3, 1.1)
    if xmp is None:
        xmp = between(data, b"<x:xmpmeta", b"</x:xmpmeta>", max_len=MAX_XMP, accept=_ends_tag_name)
    xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    xmp = xmp if isinstance(xmp, str) and len(xmp) <= MAX_XMP else None
    text = {k: str(info[k])[:MAX_XMP] for k in ("DigitalSourceType", "Generator", "Settings")
            if isinstance(info.get(k), str)}
    return {"xmp": bool(xmp), "png_text": text,
            "digital_source_type": text.get("DigitalSourceType") or _xmp_value(xmp, "Iptc4xmpExt:DigitalSourceType"),
            "generator": text.get("Generator") or _xmp_value(xmp, "xmp:CreatorTool")}


def _get(x, key, kind=dict):
    """x[key] if x is a dict and x[key] a `kind`, else an empty `kind`: a manifest is someone else's JSON."""
    value = x.get(key) if isinstance(x, dict) else None
    return value if isinstance(value, kind) else kind()


def _manifest(data: bytes, mime: str) -> dict:
    """The C2PA verdict on the file and what its active manifest says, or {"c2pa": "absent"}."""
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=context()) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return {"c2pa": "absent"}
    except c2pa.C2paError.NotSupported:
        return {"c2pa": "absent", "error": f"c2pa does not read {mime} files"}
    except c2pa.C2paError as e:  # a file that cannot be parsed: "invalid" if it holds a manifest store (JUMBF "c2pa")
        return {"c2pa": "invalid" if b"c2pa" in data else "absent", "error": str(e)[:300]}
    active = _get(_get(store, "manifests"), store.get("active_manifest"))
    results = _get(_get(store, "validation_results"), "activeManifest")
    failed = _get(results, "failure", list) + _get(store, "validation_status", list)
    failures = sorted({_get(s, "code", str) for s in failed})
    state = store.get("validation_state")
    broken = state == "Invalid" or not active or any(code not in UNTRUSTED for code in failures)
    assertions = {_get(a, "label", str): _get(a, "data") for a in _get(active, "assertions", list)}
    actions = [a for label in ("c2pa.actions.v2", "c2pa.actions") for a in _get(assertions.get(label), "actions", list)]
    ours, sig = assertions.get(ASSERTION, {}), _get(active, "signature_info")
    return {"c2pa": "invalid" if broken else "valid", "trusted": state == "Trusted", "validation_state": state,
            "failures": failures, "successes": sorted({_get(s, "code", str) for s in _get(results, "success", list)}),
            "digital_source_type": next((_get(a, "digitalSourceType", str) for a in actions
                                         if _get(a, "digitalSourceType", str)), None),
            "generator": ours.get("generator"), "settings": ours.get("settings"),
            "self_signed": ours.get("self_signed"),
            "claim_generator": [_get(g, "name", str) for g in _get(active, "claim_generator_info", list)],
            "issuer": sig.get("issuer"), "signer": sig.get("common_name"), "cert_serial": sig.get("cert_serial_number")}


def verify(path_or_bytes, *, seconds: float | None = None) -> dict:
    """What an image (a path or its bytes) says about where it came from: its C2PA manifest checked, its metadata.

    Returns {"c2pa": "valid" | "invalid" | "absent", "digital_source_type", "generator", "claims_from": "c2pa" |
    "metadata" | None, "manifest": {verdict, trusted, failures, settings, issuer, ...}, "metadata": {...}, "format",
    "width", "height"}. "valid": the signature and hashes check out; manifest["trusted"]: the signer is on a trust
    list. Raises InputError("provenance_no_file" | "provenance_not_image" | "provenance_too_large" |
    "provenance_too_wide" | "provenance_too_complex" | "provenance_file_too_large" |
    "provenance_too_slow") for what cannot be checked.
    The reading runs on generators/runtime/budget.py's threads, stopped after `seconds` (default VERIFY_SECONDS).
    """
    return UPLOADS.run(_verify, path_or_bytes, seconds=seconds or VERIFY_SECONDS, key="provenance_too_slow")


def _verify(path_or_bytes) -> dict:
    data = _read(path_or_bytes)
    if block_count(data, MAX_BLOCKS) > MAX_BLOCKS:
        raise InputError("provenance_too_complex", max_blocks=MAX_BLOCKS)
    fmt, width, height, info = _header(data)
    manifest, metadata = _manifest(data, Image.MIME.get(fmt, "application/octet-stream")), _metadata(data, info)
    if manifest.get("cert_serial"):
        try:
            manifest["signed_by_this_playground"] = manifest["cert_serial"] == signer()[1]
        except ModelUnavailable:
            manifest["signed_by_this_playground"] = None
    claims = manifest if manifest["c2pa"] == "valid" else metadata  # an unsigned claim is reported as only that
    found = claims.get("digital_source_type") or claims.get("generator")
    return {"c2pa": manifest["c2pa"], "digital_source_type": claims.get("digital_source_type"),
            "generator": claims.get("generator"),
            "claims_from": None if not found else "c2pa" if claims is manifest else "metadata",
            "manifest": manifest, "metadata": metadata, "format": fmt, "width": width, "height": height}
