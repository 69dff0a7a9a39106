"""Where a prediction runs: the card's placement and the payload size decide."""

import pytest
from medserve.errors import NotConfigured, PayloadTooLarge
from medserve.serving.offload import REALTIME_MAX_BYTES, OffloadConfig, route

BOTH = OffloadConfig(realtime_endpoint="rt", async_endpoint="async")


def with_placement(card, placement):
    return card.model_copy(update={"placement": placement})


def test_lambda_models_run_here(card):
    assert route(card, 10**9, OffloadConfig()).placement == "lambda"


def test_realtime_models_go_to_the_realtime_endpoint(card):
    got = route(with_placement(card, "sagemaker-realtime"), 1000, BOTH)
    assert (got.placement, got.endpoint, got.reason) == ("sagemaker-realtime", "rt", "model card placement")


def test_payloads_over_the_realtime_limit_go_async(card):
    got = route(with_placement(card, "sagemaker-realtime"), REALTIME_MAX_BYTES + 1, BOTH)
    assert (got.placement, got.endpoint, got.reason) == (
        "sagemaker-async",
        "async",
        "payload over the real-time limit",
    )
    with pytest.raises(PayloadTooLarge):
        route(
            with_placement(card, "sagemaker-realtime"),
            REALTIME_MAX_BYTES + 1,
            OffloadConfig(realtime_endpoint="rt"),
        )


def test_async_models_go_async(card):
    assert route(with_placement(card, "sagemaker-async"), 10, BOTH).placement == "sagemaker-async"


@pytest.mark.parametrize("placement", ["sagemaker-realtime", "sagemaker-async"])
def test_an_endpoint_that_is_off_is_a_clear_503(card, placement):
    with pytest.raises(NotConfigured) as caught:
        route(with_placement(card, placement), 10, OffloadConfig())
    assert caught.value.status == 503 and "not configured" in caught.value.message
