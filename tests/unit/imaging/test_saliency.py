"""Occlusion maps: exact on a model we can reason about, bounded cost, batched calls, overlay PNG."""

import io

import numpy as np
import pytest
from medserve.imaging.saliency import evaluations_per_image, occlusion, overlay_png
from PIL import Image


def blob_image() -> np.ndarray:
    image = np.full((128, 128), 0.2, dtype=np.float32)
    image += np.random.default_rng(0).normal(0, 0.01, image.shape).astype(np.float32)
    image[40:46, 90:96] = 1.0  # a bright spot in cell (2, 5) of an 8 x 8 grid of 16 px
    return image


def brightest_spot(batch: np.ndarray) -> np.ndarray:
    """A 'model' whose score is the brightest pixel: only the spot's cell can lower it."""
    return batch.reshape(len(batch), -1).max(axis=1).astype(np.float64)


def test_the_map_points_at_what_the_score_depends_on():
    calls = []

    def score(batch):
        calls.append(len(batch))
        return brightest_spot(batch)

    result = occlusion(score, blob_image(), grid=8)
    assert result.values.shape == (8, 8)
    peak = np.unravel_index(np.argmax(result.values), result.values.shape)
    assert peak == (2, 5)
    assert result.values[2, 5] > 0.5  # hiding the spot drops the score from 1.0 to the background
    others = np.delete(result.values.ravel(), 2 * 8 + 5)
    assert np.abs(others).max() < 1e-9  # nothing else matters to this score
    assert result.score == pytest.approx(1.0)
    # Budget and batching: every cell once plus the image, in one call.
    assert result.evaluations == evaluations_per_image(8) == 65
    assert calls == [65] and result.calls == 1


def test_uniform_cells_cost_nothing():
    image = blob_image()
    image[:, :64] = 0.0  # left half uniform (as letterbox padding is)
    result = occlusion(brightest_spot, image, grid=8)
    assert result.evaluations == 1 + 32
    assert not result.values[:, :4].any()


def test_deterministic_and_grid_edges_cover_the_image():
    a = occlusion(brightest_spot, blob_image(), grid=5)  # 128 is not a multiple of 5
    b = occlusion(brightest_spot, blob_image(), grid=5)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.row_edges[0] == 0 and a.row_edges[-1] == 128 and len(a.col_edges) == 6


def test_large_inputs_are_scored_in_several_bounded_calls():
    image = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)
    seen = []
    result = occlusion(lambda b: seen.append(len(b)) or brightest_spot(b), image, grid=4)
    assert sum(seen) == result.evaluations == 17 and len(seen) == result.calls > 1
    assert max(seen) * 1024 * 1024 <= 8 * 1024 * 1024


def test_overlay_png_is_small_and_cropped_to_the_image():
    image = blob_image()
    result = occlusion(brightest_spot, image, grid=8)
    png = overlay_png(image, result, (0, 16, 128, 112))
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.size == (128, 96) and picture.mode == "RGB"
    rgb = np.asarray(picture).astype(int)
    spot = rgb[40 - 16 : 46 - 16, 90:96]
    assert (spot[..., 0] > spot[..., 2]).all()  # red over the evidence
    corner = rgb[80:, :20]
    assert (corner[..., 0] == corner[..., 2]).all()  # grey elsewhere
    assert len(png) < 64 * 1024
