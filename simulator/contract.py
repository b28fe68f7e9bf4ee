"""The vendor contract as the simulator speaks it, and every place where it had to guess.

Optimove documents only part of what the Advanced Activation Flow needs (see
``reference/optimove-api.md``; [C] = confirmed, [I] = inferred, [GAP] = undocumented). The simulator
must still answer something, so it implements the documented inference. This is the ONE list of those
choices; when Optimove confirms or corrects one, change it here and in the module named.

Confirmed parts the simulator enforces as documented:
- ``X-API-KEY`` header auth [C S10]; 401 otherwise (status code per [3P T2]).
- 50 requests per 10 s per key, sliding window, 429 with the documented JSON body [C S12].
- EventTypeID 5 cannot be registered with a ChannelID [C S5] -> 400 here (code [I]).
- UpdateCustomerPromotionStatus: body shape, ``TimeStamp`` as ``yyyy-MM-dd HH:mm:ss``, at most 10,000
  customers per call, "never received = false", only sets made by ClearanceRequiredBy count [C S6].
- POST "functions" answer 200 with no payload [C S5, S6].
- JSON request bodies need ``Content-Type: application/json`` [C S11 common headers]; without it the
  body is not read and the call gets 400.

Inferred parts ([I] / [GAP]), and what the simulator does:
1. Paths: ``{base}/current/{group}/{Function}`` with the casing of the reference slugs
   (``general``, ``customers``, ``integrations``) [I]. Routes are case-sensitive here.
2. ``GetRegisteredEventListeners`` answers ``[{"EventTypeID": 5, "ListenerURL": "..."}]`` (ChannelID is
   added only when one was registered) [GAP shape]. Registering an EventTypeID again replaces its URL;
   unregistering an EventTypeID that is not registered still answers 200 [I].
3. Triggered-webhook registration ``POST /conditional-execution/v2/triggered/webhooks/`` takes
   ``{"url": "..."}`` and answers 200 empty; a new URL replaces the old one, like the v1 gateway [GAP].
4. EventTypeID 5 webhook body: ``{"EventTypeID": 5, "TimeStamp": "yyyy-MM-dd HH:mm", "CampaignID": <int>,
   "ClearanceRequiredBy": "yyyy-MM-dd HH:mm:ss"}``; EventTypeID 4 bodies omit ClearanceRequiredBy.
   Key style and the minute-precision TimeStamp follow the documented EventTypeID 14 sample [C S19];
   the rest is [I]. The simulator ignores the listener's answer except to report it.
5. Time zone: webhook timestamps are wall-clock times in the tenant time zone
   (``SimulatorConfig.timezone``) with no zone suffix [I, 1.6]. The inbound ``TimeStamp`` of
   UpdateCustomerPromotionStatus is format-checked only; lateness is judged by the simulator's clock.
6. ``GetProcessedCampaignCustomers`` takes ``CampaignID``, ``$top`` (default and maximum 10,000),
   ``$skip`` (default 0), ``CustomerAttributes`` (names separated by ``;``) and
   ``CustomerAttributesDelimiter`` (accepted, must be one character; values come back as a JSON array
   so it changes nothing) [I from sibling functions and [3P T1]]. Rows are
   ``{"CustomerID": str, "ActionID": int, "PromoCode": str, "CustomerAttributes": [str|null, ...]}``:
   attribute values are strings, positional in the requested order, null for an unknown name, and the
   key is absent when no attributes were requested [I from GetCustomerOneTimeActionsByCampaign].
   A page past the end is ``[]`` [I].
7. Error codes [GAP 1.4]: malformed input -> 400, unknown CampaignID -> 404, both with a JSON body
   ``{"status", "error", "message"}`` shaped like the documented 429 body.
8. UpdateCustomerPromotionStatus: last write wins; sets after ClearanceRequiredBy are accepted and
   recorded as "late" rather than rejected; unknown customer ids are accepted and recorded [I, GAP 6.1].
9. ``Retry-After`` (integer seconds) on 429 is a simulator courtesy; Optimove documents none [GAP 1.3].
10. Fault "bare_string" answers 200 with a JSON string body, as [3P T3] saw some GET calls do.
11. Customer ids are ``f"{campaign_id}-{index:07d}"`` and attributes are the simulator's own invention
    (``Consent``, ``FraudFlag``, ``VIPLevel``, ``Country``, ``Email``); real tenants define their own.
12. Not served (out of scope here): GetCanceledCampaignCustomers, the v1
    ``triggered_conditional_execution_gateway`` PUT, and OptiPromo's other APIs (activation, admin).
13. OptiPromo ``validateCustomers`` is served at ``/optipromo/v1/promocodes/<promocodeId>/validateCustomers``
    (``OPTIPROMO_PREFIX`` is the simulator's stand-in for the undocumented host [GAP 1.1]) with the same
    ``X-API-KEY`` keys [I 5]. Body ``{"contexts": [{"customerId": str, "sessionProperties": {...}?}],
    "campaignData": {"campaignId": str|int}?}``; answer 200 ``{"promocodeId": str, "contexts":
    [{"customerId": str, "effects": [{"tier": str, "reward": {"type": str, "amount": number}}],
    "reason"?: str}]}``, one entry per requested context, in order [GAP: the reference sample is
    illustrative only]. The four undocumented query parameters are ignored.
14. Not eligible is a 200 whose context has ``effects: []`` plus a simulator-only ``reason`` [GAP]:
    ``not_eligible`` (no tier matches, or the customer is in no campaign using the promo code, or not in
    the named ``campaignId``, compared as the CampaignID's decimal text), ``audience_cap_reached``,
    ``reward_budget_exhausted``, ``promotion_inactive``. Unknown promocodeId -> 404; a malformed body, an
    empty ``contexts``, a context without a string ``customerId`` or more than ``max_contexts`` contexts
    (``SimulatorConfig.max_validate_contexts``, default 100, or the promotion's own) -> 400 [GAP].
15. Validation RESERVES budget (simulator.promotions) [I; the reference hints that only the status update
    consumes it, but reserving is the stand-in that can never over-promise]: a customer's first
    successful validation takes one ``audience_cap`` slot and its reward amount from ``reward_budget``;
    validating it again answers the reserved effect (even with other session properties) and consumes
    nothing. A reward larger than what is left is refused whole. Checks run in this order: inactive,
    membership, earlier reservation, tier, audience cap, reward budget.
16. validateCustomers spends the SAME per-key rate-limit budget as the Optimove functions (one sliding
    window per key) [I; no OptiPromo limit is documented, GAP 1.3] and takes the same injected faults
    under the endpoint name ``validateCustomers``; ``applied_lost`` makes the reservation, then resets.
17. Promotions are the simulator's own model of OptiPromo's tiers and publishing budget [C S16 concepts,
    I shapes]: each campaign's promo code gets a default promotion (tiers by ``VIPLevel``, amount doubled
    when ``sessionProperties.deposit_amount >= 100``, no budget limit) unless one exists, and
    ``POST /_sim/promotions`` creates or replaces one (a replaced promotion starts with no usage).
18. Not Optimove at all: ``POST /_operator/grants`` stands in for the operator's own reward platform, the
    peer of promobridge's HTTP reward activator (``simulator.operator_grants``). It honours
    ``Idempotency-Key`` the way the README's "Reward activator contract" asks an operator to, has its
    own faults and inspection under ``/_sim/operator``, and needs no API key.
"""

from __future__ import annotations

from typing import Final

API_KEY_HEADER: Final = "X-API-KEY"
OPTIMOVE_PREFIX: Final = "/current"
CONTROL_PREFIX: Final = "/_sim"
OPTIPROMO_PREFIX: Final = "/optipromo"
OPERATOR_PREFIX: Final = "/_operator"  # the simulated operator platform (contract #18), not Optimove

MAX_PAGE_SIZE: Final = 10_000  # rows per GetProcessedCampaignCustomers page [3P T1]
MAX_STATUS_UPDATES_PER_CALL: Final = 10_000  # PromosUpdated entries per call [C S6]
DEFAULT_MAX_VALIDATE_CONTEXTS: Final = 100  # contexts per validateCustomers call (contract #14) [GAP]
ATTRIBUTE_NAME_SEPARATOR: Final = ";"

# strftime spellings of the wire formats (the vendor writes them .NET-style).
STATUS_TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # yyyy-MM-dd HH:mm:ss [C S6]
WEBHOOK_TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M"  # yyyy-MM-dd HH:mm [C S19]
CLEARANCE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # [I]

EVENT_CAMPAIGN_CANCELED: Final = 4
EVENT_SCHEDULED_CONDITIONAL: Final = 5

RATE_LIMIT_MESSAGE: Final = "You have exceeded the rate limit for this API group. Please retry later."
BARE_STRING_ERROR_BODY: Final = '"Internal error: try again"'

# Names used for counting, fault targeting and the inspection API.
REGISTER_EVENT_LISTENER: Final = "RegisterEventListener"
GET_REGISTERED_EVENT_LISTENERS: Final = "GetRegisteredEventListeners"
UNREGISTER_EVENT_LISTENER: Final = "UnregisterEventListener"
REGISTER_TRIGGERED_WEBHOOK: Final = "RegisterTriggeredWebhook"
GET_PROCESSED_CAMPAIGN_CUSTOMERS: Final = "GetProcessedCampaignCustomers"
UPDATE_CUSTOMER_PROMOTION_STATUS: Final = "UpdateCustomerPromotionStatus"

OPTIMOVE_ENDPOINTS: Final = (
    REGISTER_EVENT_LISTENER,
    GET_REGISTERED_EVENT_LISTENERS,
    UNREGISTER_EVENT_LISTENER,
    REGISTER_TRIGGERED_WEBHOOK,
    GET_PROCESSED_CAMPAIGN_CUSTOMERS,
    UPDATE_CUSTOMER_PROMOTION_STATUS,
)

VALIDATE_CUSTOMERS: Final = "validateCustomers"
OPTIPROMO_ENDPOINTS: Final = (VALIDATE_CUSTOMERS,)
SERVED_ENDPOINTS: Final = OPTIMOVE_ENDPOINTS + OPTIPROMO_ENDPOINTS  # what faults can target
