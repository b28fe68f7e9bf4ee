"""Paging through GetProcessedCampaignCustomers: where it stops, what it sends, how rows are read."""

from __future__ import annotations

import pytest

from app.adapters.optimove.client import OptimoveClient
from app.domain.optimove import CampaignCustomer
from app.domain.optimove_errors import OptimoveProtocolError, SkipIgnoredError
from tests.integration.optimove.conftest import CountingLimiter
from tests.support.scripted_http import RecordedRequest, Responder, Scripted, ScriptedHTTPServer

CAMPAIGN_ID = 1359


def audience(size: int) -> list[dict[str, object]]:
    return [{"CustomerID": f"C{n:05d}", "ActionID": 4, "PromoCode": "A7Bonus"} for n in range(size)]


def serve_audience(rows: list[dict[str, object]], *, honour_skip: bool = True) -> Responder:
    """A responder that pages ``rows`` the way a well-behaved (or skip-ignoring) server would."""

    def respond(request: RecordedRequest) -> Scripted:
        top = int(request.query["$top"])
        skip = int(request.query["$skip"]) if honour_skip else 0
        return Scripted(json=rows[skip : skip + top])

    return respond


def collect(client: OptimoveClient, page_size: int) -> list[list[CampaignCustomer]]:
    return list(client.iter_campaign_customer_pages(CAMPAIGN_ID, page_size=page_size))


def test_paging_stops_after_a_short_page(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.set_fallback(serve_audience(audience(25)))

    pages = collect(client, page_size=10)

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [customer.customer_id for page in pages for customer in page] == [f"C{n:05d}" for n in range(25)]
    assert [(r.query["$top"], r.query["$skip"]) for r in server.requests] == [
        ("10", "0"),
        ("10", "10"),
        ("10", "20"),
    ]


def test_paging_stops_on_an_empty_page(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.set_fallback(serve_audience(audience(20)))

    pages = collect(client, page_size=10)

    assert [len(page) for page in pages] == [10, 10]
    assert len(server.requests) == 3, "the third request returned [] and ended the loop"


@pytest.mark.parametrize("end", [Scripted(status=204), Scripted(body=""), Scripted(body="  \n")])
def test_no_content_or_empty_body_ends_paging(
    server: ScriptedHTTPServer, client: OptimoveClient, end: Scripted
) -> None:
    server.enqueue(Scripted(json=audience(10)), end)

    pages = collect(client, page_size=10)

    assert [len(page) for page in pages] == [10]


def test_a_server_ignoring_skip_is_detected_instead_of_looping(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(serve_audience(audience(50), honour_skip=False))

    pages = client.iter_campaign_customer_pages(CAMPAIGN_ID, page_size=10)
    first = next(pages)
    with pytest.raises(SkipIgnoredError) as caught:
        next(pages)

    assert len(first) == 10
    assert caught.value.endpoint == "customers/GetProcessedCampaignCustomers"
    assert len(server.requests) == 2


def test_more_rows_than_top_means_the_parameter_was_ignored(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.enqueue(Scripted(json=audience(11)))

    with pytest.raises(OptimoveProtocolError, match=r"\$top"):
        client.get_campaign_customers_page(CAMPAIGN_ID, top=10, skip=0)


def test_page_request_carries_campaign_paging_and_attribute_parameters(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.enqueue(Scripted(json=[]))

    client.get_campaign_customers_page(CAMPAIGN_ID, top=500, skip=1000, attributes=["Alias", "Country"])

    request = server.requests[0]
    assert (request.method, request.path) == ("GET", "/current/customers/GetProcessedCampaignCustomers")
    assert request.query == {
        "CampaignID": "1359",
        "$top": "500",
        "$skip": "1000",
        "CustomerAttributes": "Alias;Country",
    }


def test_positional_attributes_are_mapped_back_to_the_requested_names(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.enqueue(
        Scripted(
            json=[
                {
                    "CustomerID": 8871,
                    "ActionID": "4",
                    "PromoCode": "A7Bonus",
                    "CustomerAttributes": ["Yo999", "UA"],
                },
                {"customerId": "C2", "actionId": 1, "promoCode": None, "customerAttributes": [None, 3]},
            ]
        )
    )

    page = client.get_campaign_customers_page(CAMPAIGN_ID, top=10, skip=0, attributes=["Alias", "Country"])

    assert page == [
        CampaignCustomer("8871", 4, "A7Bonus", {"Alias": "Yo999", "Country": "UA"}),
        CampaignCustomer("C2", 1, None, {"Alias": None, "Country": "3"}),
    ]


def test_attribute_count_mismatch_is_a_protocol_error(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.enqueue(Scripted(json=[{"CustomerID": "C1", "CustomerAttributes": ["only-one"]}]))

    with pytest.raises(OptimoveProtocolError, match="CustomerAttributes"):
        client.get_campaign_customers_page(CAMPAIGN_ID, top=10, skip=0, attributes=["Alias", "Country"])


@pytest.mark.parametrize(
    "row",
    [{"ActionID": 4}, {"CustomerID": ""}, {"CustomerID": True}, {"CustomerID": "C1", "ActionID": "four"}],
    ids=["missing-id", "empty-id", "boolean-id", "non-numeric-action"],
)
def test_malformed_rows_are_protocol_errors(
    server: ScriptedHTTPServer, client: OptimoveClient, row: dict[str, object]
) -> None:
    server.enqueue(Scripted(json=[row]))

    with pytest.raises(OptimoveProtocolError):
        client.get_campaign_customers_page(CAMPAIGN_ID, top=10, skip=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top": 0, "skip": 0}, "top"),
        ({"top": 10_001, "skip": 0}, "top"),
        ({"top": 10, "skip": -1}, "skip"),
        ({"top": 10, "skip": 0, "attributes": ["a;b"]}, "attribute"),
        ({"top": 10, "skip": 0, "attributes": "Alias"}, "not one string"),
    ],
)
def test_impossible_page_arguments_fail_before_any_request(
    server: ScriptedHTTPServer,
    client: OptimoveClient,
    limiter: CountingLimiter,
    kwargs: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        client.get_campaign_customers_page(CAMPAIGN_ID, **kwargs)  # type: ignore[arg-type]

    assert server.requests == []
    assert limiter.acquired == 0
