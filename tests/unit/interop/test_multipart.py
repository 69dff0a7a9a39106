"""multipart/related (medserve.interop.multipart): parts come out byte for byte, whatever they hold."""

import pytest
from medserve.errors import MalformedRequest
from medserve.interop.multipart import join_related, split_related


def test_binary_parts_round_trip_exactly():
    # CRLFs, lone CRs, dashes and a near-boundary inside the bodies: nothing may be normalised.
    bodies = [b"\r\n--not-the-boundary\r\n\r\n\x00\xff", bytes(range(256)) * 4, b"", b"\r\r\n\n--"]
    content_type, body = join_related(
        [({"X-Note": str(i)}, b) for i, b in enumerate(bodies)], part_type="application/dicom"
    )
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=medserve-')
    parts = split_related(body, content_type, max_parts=10)
    assert [p[1] for p in parts] == bodies
    assert [p[0] for p in parts] == [
        {"content-type": "application/dicom", "x-note": str(i)} for i in range(4)
    ]


def test_a_quoted_boundary_and_transport_padding_are_read():
    body = b"--b 1  \r\nContent-Type: application/dicom\r\n\r\nDATA\r\n--b 1--\r\n"
    parts = split_related(body, 'multipart/related; boundary="b 1"', max_parts=2)
    assert parts == [({"content-type": "application/dicom"}, b"DATA")]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--b\r\n\r\nX\r\n--b--", "multipart/related"),  # no boundary
        (b"--b\r\n\r\nX\r\n--b--", "application/dicom; boundary=b"),  # not multipart/related
        (b"--b\r\n\r\nX", "multipart/related; boundary=b"),  # no closing delimiter
        (b"--b\r\nno blank line\r\n--b--", "multipart/related; boundary=b"),
        (b"--b\r\n\r\nX\r\n--b\r\n\r\nY\r\n--b\r\n\r\nZ\r\n--b--", "multipart/related; boundary=b"),  # > 2
    ],
)
def test_malformed_bodies_are_400(body, content_type):
    with pytest.raises(MalformedRequest):
        split_related(body, content_type, max_parts=2)
