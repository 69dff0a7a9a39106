"""medserve.imaging.decode and medserve.imaging.dicom: formats, modes, DICOM pixel pipeline, limits (no AWS)."""

import io

import numpy as np
import pytest
from medserve.errors import InvalidInput, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from medserve.imaging.decode import decode, normalise, sniff, to_model_input
from medserve.imaging.dicom import DICOM_BLOCK
from medserve.imaging.types import MAX_PIXELS, MEDIA_TYPES
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from tests.imaging_samples import (
    PHANTOM,
    PYDICOM_FILES,
    bad_inputs,
    encode,
    make_dicom,
    phantom_grey,
    phantom_in_modes,
    pydicom_file,
    with_attributes,
)

MB = 1 << 20


def model_view(data: bytes) -> np.ndarray:
    decoded = decode(data, max_bytes=50 * MB)
    grey, uniform = normalise(decoded.pixels)
    return to_model_input(grey, 128, 128, uniform=uniform).tensor


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_pydicom_files_decode_to_grey(name):
    decoded = decode(pydicom_file(name), max_bytes=50 * MB)
    assert decoded.format == "dicom" and decoded.pixels.ndim == 2
    assert decoded.pixels.shape == (decoded.height, decoded.width)
    assert np.isfinite(decoded.pixels).all() and np.ptp(decoded.pixels) > 0
    assert set(decoded.dicom) == set(DICOM_BLOCK)
    assert decoded.dicom["rows"] == decoded.height and decoded.dicom["columns"] == decoded.width


def test_dicom_block_is_technical_only():
    decoded = decode(pydicom_file("SC_rgb_jpeg_dcmtk.dcm"), max_bytes=50 * MB)
    assert decoded.dicom == {
        "modality": "OT",
        "rows": 100,
        "columns": 100,
        "photometric_interpretation": "YBR_FULL",
        "frames": 1,
        "frame_index": 0,
    }
    # A Modality that is not one of DICOM's defined terms is not echoed (it could be anything),
    # even when it is a well-formed code string.
    for value in ("Doe^Jane", "DOE JANE"):
        forged = decode(with_attributes("CT_small.dcm", Modality=value), max_bytes=50 * MB)
        assert forged.dicom["modality"] is None


def test_modality_lut_is_applied():
    base = decode(pydicom_file("CT_small.dcm"), max_bytes=MB).pixels
    shifted = decode(with_attributes("CT_small.dcm", RescaleIntercept=1000), max_bytes=MB).pixels
    np.testing.assert_allclose(shifted - base, 2024.0)  # the file's own intercept is -1024


def test_voi_window_is_applied():
    # CT_small has no window: a narrow one saturates everything outside it.
    windowed = decode(with_attributes("CT_small.dcm", WindowCenter=40, WindowWidth=80), max_bytes=MB).pixels
    plain = decode(pydicom_file("CT_small.dcm"), max_bytes=MB).pixels
    # 80 HU wide: at most ~80 grey levels survive, and air/bone saturate at the window's ends.
    assert len(np.unique(windowed)) <= 81 < len(np.unique(plain))
    assert np.isclose(windowed, windowed.min()).mean() > 0.3  # air and lung below the window
    assert np.isclose(windowed, windowed.max()).mean() > 0.1  # bone above it


def test_monochrome1_is_inverted():
    m2 = model_view(pydicom_file("MR_small.dcm"))
    m1 = model_view(with_attributes("MR_small.dcm", PhotometricInterpretation="MONOCHROME1"))
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-5)


def test_multi_frame_uses_the_middle_frame():
    frames = np.zeros((5, 16, 16), dtype=np.uint16)
    for k in range(5):
        frames[k, k : k + 4, 2:6] = 1000 + k  # a different bright patch per frame
    decoded = decode(make_dicom(frames), max_bytes=MB)
    assert decoded.dicom["frames"] == 5 and decoded.dicom["frame_index"] == 2
    np.testing.assert_array_equal(decoded.pixels, frames[2].astype(np.float64))
    assert decoded.warnings and "frame 2 of 5" in decoded.warnings[0]
    # and a real multi-frame file from the wheel (15-frame RT dose grid)
    dose = decode(pydicom_file("rtdose.dcm"), max_bytes=MB)
    assert (dose.dicom["frames"], dose.dicom["frame_index"]) == (15, 7)
    np.testing.assert_array_equal(
        dose.pixels, pixel_array(dcmread(io.BytesIO(pydicom_file("rtdose.dcm"))), index=7).astype(np.float64)
    )


def test_enhanced_multi_frame_rescale_comes_from_functional_groups():
    frames = np.full((3, 8, 8), 100, dtype=np.uint16)
    frames[:, :4] = 200
    shared, per_frame = Dataset(), [Dataset() for _ in range(3)]
    transform = Dataset()
    transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = 0, 1, "US"
    shared.PixelValueTransformationSequence = [transform]
    own = Dataset()
    own.RescaleIntercept, own.RescaleSlope, own.RescaleType = 500, 2, "US"
    per_frame[1].PixelValueTransformationSequence = [own]  # the middle frame's own values win
    data = make_dicom(
        frames, SharedFunctionalGroupsSequence=[shared], PerFrameFunctionalGroupsSequence=per_frame
    )
    decoded = decode(data, max_bytes=MB)
    np.testing.assert_array_equal(np.unique(decoded.pixels), [700.0, 900.0])


def test_modes_normalise_identically():
    views = {mode: model_view(data) for mode, data in phantom_in_modes().items()}
    reference = views.pop("L")
    for mode, view in views.items():
        np.testing.assert_allclose(view, reference, atol=1e-5, err_msg=mode)


def test_jpeg_and_cmyk_decode_close_to_the_png():
    reference = model_view(PHANTOM.read_bytes())
    grey = phantom_grey()
    for image in (grey, grey.convert("RGB"), grey.convert("CMYK")):
        view = model_view(encode(image, "JPEG", quality=95))
        assert np.abs(view - reference).mean() < 0.02, image.mode


def test_transparency_is_composited_onto_black():
    rgba = Image.new("RGBA", (4, 4), (200, 200, 200, 255))
    rgba.putpixel((0, 0), (255, 255, 255, 0))  # fully transparent white
    pixels = decode(encode(rgba), max_bytes=MB).pixels
    assert pixels[0, 0] == 0.0 and pixels[1, 1] == pytest.approx(200.0)


def test_sixteen_bit_png_keeps_its_depth():
    values = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    decoded = decode(encode(Image.fromarray(values)), max_bytes=MB)
    assert decoded.mode.startswith("I") and decoded.pixels.max() == float(values.max())


def test_letterbox_keeps_the_aspect_ratio():
    wide = np.ones((50, 200), dtype=np.float32)
    x = to_model_input(wide, 128, 128)
    assert x.tensor.shape == (128, 128) and x.box == (0, 48, 128, 80)
    assert x.tensor[:48].max() == 0.0 and x.tensor[80:].max() == 0.0
    assert np.allclose(x.tensor[48:80], 1.0)


def test_normalise_is_robust_and_flags_uniform_images():
    pixels = np.linspace(0, 100, 10_000).reshape(100, 100)
    pixels[0, 0] = 1e9  # one burnt-in pixel does not squash the rest
    scaled, uniform = normalise(pixels)
    assert not uniform and scaled.dtype == np.float32 and 0.4 < float(np.median(scaled)) < 0.6
    flat, uniform = normalise(np.full((8, 8), 7.0))
    assert uniform and not flat.any()
    with pytest.raises(InvalidInput):
        normalise(np.array([[0.0, np.nan]]))


def test_sniff():
    assert sniff(PHANTOM.read_bytes()) == "png"
    assert sniff(encode(phantom_grey(), "JPEG")) == "jpeg"
    assert sniff(pydicom_file("CT_small.dcm")) == "dicom"
    assert sniff(encode(phantom_grey(), "TIFF")) == "TIFF"
    assert sniff(b"hello") is None


# "wrong content type" is decided by the route (tests/unit/imaging/test_imaging_api.py), not by decode().
@pytest.mark.parametrize("case", sorted(c for c, v in bad_inputs().items() if v[1] in MEDIA_TYPES))
def test_bad_inputs_raise_their_error(case):
    data, _, status, code = bad_inputs()[case]
    with pytest.raises((MalformedRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType)) as caught:
        decode(data, max_bytes=50 * MB)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message and "Traceback" not in caught.value.message


def test_limits_are_checked_before_decoding():
    with pytest.raises(PayloadTooLarge, match="bytes"):
        decode(PHANTOM.read_bytes(), max_bytes=100)
    with pytest.raises(PayloadTooLarge, match="pixels"):
        decode(PHANTOM.read_bytes(), max_pixels=128 * 127)
    # Pillow's own decompression-bomb guard is set to the same ceiling, deliberately.
    Image.open(io.BytesIO(PHANTOM.read_bytes()))
    decode(PHANTOM.read_bytes())
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS


def test_large_jpeg_is_decoded_at_reduced_scale():
    big = phantom_grey().resize((2048, 2048))
    decoded = decode(encode(big, "JPEG"), max_bytes=50 * MB, reduce_to=256)
    assert (decoded.width, decoded.height) == (2048, 2048)  # the stored size is reported
    assert 256 <= decoded.pixels.shape[0] < 2048  # but fewer pixels were decoded


# Issue 18: attributes that contradict the pixel data are refused before any pixel is decoded
# (before, e.g. BitsAllocated 8 over 16-bit data was decoded as twice as many 8-bit values).
INCONSISTENT_DICOM = {
    "8 bits allocated over 16-bit data": dict(BitsAllocated=8, BitsStored=8, HighBit=7),
    "bits stored over bits allocated": dict(BitsStored=17),
    "bits allocated not a multiple of 8": dict(BitsAllocated=12),
    "high bit outside the allocated bits": dict(HighBit=16),
    "one row more than the data": dict(Rows=129),
    "a column fewer than the data": dict(Columns=127),
    "two frames, one frame of data": dict(NumberOfFrames=2),
    "three samples over grey data": dict(SamplesPerPixel=3),
    "two samples per pixel": dict(SamplesPerPixel=2),
    "no bits allocated": dict(BitsAllocated=None),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT_DICOM))
def test_inconsistent_dicom_attributes_are_422(case):
    data = with_attributes("CT_small.dcm", **INCONSISTENT_DICOM[case])
    with pytest.raises(InvalidInput) as refused:
        decode(data, max_bytes=50 * MB)
    message = refused.value.message
    assert "DICOM" in message and any(w in message for w in ("Bits", "HighBit", "Samples", "PixelData"))


def test_consistent_dicom_and_padding_still_decode():
    assert decode(pydicom_file("CT_small.dcm"), max_bytes=50 * MB).pixels.shape == (128, 128)
    # Zero padding after the pixels (shorter than a frame) and the even-length pad byte are padding.
    for name in ("MR_small_padded.dcm", "SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm"):
        assert decode(pydicom_file(name), max_bytes=50 * MB).format == "dicom"
    frames = np.arange(2 * 6 * 4, dtype=np.uint16).reshape(2, 6, 4)
    assert decode(make_dicom(frames), max_bytes=50 * MB).dicom["frames"] == 2
    truncated = dcmread(io.BytesIO(make_dicom(frames)))
    truncated.PixelData = truncated.PixelData[:-2]
    buffer = io.BytesIO()
    truncated.save_as(buffer)
    with pytest.raises(InvalidInput, match="PixelData length"):
        decode(buffer.getvalue(), max_bytes=50 * MB)
