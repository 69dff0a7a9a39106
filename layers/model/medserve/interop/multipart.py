"""``multipart/related`` bodies (RFC 2387, as DICOMweb STOW-RS sends DICOM files): split and join.

Written here rather than through the ``email`` package: its parser is built for text and does
not promise byte-exact binary parts, and a DICOM part must come out bit for bit. A part is
``(headers, body)`` with header names in lower case.
"""

from __future__ import annotations

import secrets
from email.message import Message

from medserve.errors import MalformedRequest

__all__ = ["MULTIPART_RELATED", "join_related", "split_related"]

MULTIPART_RELATED = "multipart/related"


def _params(content_type: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["content-type"] = content_type
    params = {str(k).lower(): str(v) for k, v in (message.get_params() or [])[1:]}
    return message.get_content_type(), params


def split_related(body: bytes, content_type: str, *, max_parts: int) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/related`` body; 400 when it is not one (no boundary, no parts,
    no closing delimiter) or holds more than ``max_parts`` parts."""
    media, params = _params(content_type)
    boundary = params.get("boundary", "")
    if media != MULTIPART_RELATED or not 0 < len(boundary) <= 70:
        raise MalformedRequest("a multipart/related body needs a boundary parameter (1 to 70 characters)")
    delimiter = b"\r\n--" + boundary.encode("latin-1", "replace")
    chunks = (b"\r\n" + body).split(delimiter)  # [preamble, part, part, ..., "--" epilogue]
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the close delimiter
        if len(parts) == max_parts:
            raise MalformedRequest(f"a multipart body may hold at most {max_parts} parts")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise MalformedRequest("a multipart part has no blank line after its headers")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n")[1:]:  # the first line: transport padding after the delimiter
            name, colon, value = line.decode("latin-1").partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    else:
        raise MalformedRequest("the multipart body has no closing delimiter (it may be truncated)")
    if not parts:
        raise MalformedRequest("the multipart body holds no parts")
    return parts


def join_related(parts: list[tuple[dict[str, str], bytes]], *, part_type: str) -> tuple[str, bytes]:
    """``(content type, body)`` of a ``multipart/related`` body of ``parts`` (each ``part_type``)."""
    while True:
        boundary = f"medserve-{secrets.token_hex(16)}"
        if not any(boundary.encode() in body for _, body in parts):  # 128 random bits: once
            break
    out = bytearray()
    for headers, body in parts:
        out += f"--{boundary}\r\n".encode()
        for name, value in {"Content-Type": part_type, **headers}.items():
            out += f"{name}: {value}\r\n".encode("latin-1")
        out += b"\r\n" + body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f'{MULTIPART_RELATED}; type="{part_type}"; boundary={boundary}', bytes(out)
