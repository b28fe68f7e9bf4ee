"""The ``/_sim/promotions`` control API: shape a promotion and read back its validations.

Kept apart from ``control_api`` (same prefix, own blueprint) so each module stays readable in one sitting.
"""

from __future__ import annotations

from flask import Blueprint, Response

from simulator import contract
from simulator.context import current_state
from simulator.promotions import Promotion, UnknownPromotionError
from simulator.responses import ApiError, json_response, read_json_object

promotion_control = Blueprint("promotion_control", __name__, url_prefix=contract.CONTROL_PREFIX)


@promotion_control.post("/promotions")
def put_promotion() -> Response:
    """Create (201) or replace (200) a promotion; a replaced promotion's usage starts again at zero."""
    try:
        promotion = Promotion.from_json(read_json_object())
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    created = current_state().promotions.put(promotion)
    return json_response(_describe(promotion.promocode_id), status=201 if created else 200)


@promotion_control.get("/promotions/<promocode_id>")
def get_promotion(promocode_id: str) -> Response:
    """The promotion's rules and its ``usage`` counters."""
    return json_response(_describe(promocode_id))


@promotion_control.get("/promotions/<promocode_id>/validations")
def get_validations(promocode_id: str) -> Response:
    """Per customer validated: ``times``, and the reserved ``tier`` and ``amount`` (null if none)."""
    try:
        validations = current_state().promotions.validations(promocode_id)
    except UnknownPromotionError as exc:
        raise ApiError(404, f"promotion {promocode_id} not found") from exc
    return json_response({"validations": validations})


def _describe(promocode_id: str) -> dict[str, object]:
    try:
        return current_state().promotions.describe(promocode_id)
    except UnknownPromotionError as exc:
        raise ApiError(404, f"promotion {promocode_id} not found") from exc
