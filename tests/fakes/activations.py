"""Activation records and the wallet ledger in memory, once per claim, as ``app.adapters.db.activations``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.rewards import RewardGrant
from tests.fakes.claims import ClaimRow
from tests.fakes.tables import Table, TableView, numeric_column


@dataclass(frozen=True, slots=True)
class ActivationRow:
    """One row of the activations table."""

    claim_id: str
    activator: str
    external_ref: str | None
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WalletCreditRow:
    """One row of the wallet_ledger table."""

    id: int
    claim_id: str
    campaign_id: int
    customer_id: str
    reward_type: str | None
    amount: Decimal
    created_at: datetime


def activations_table() -> Table[str, ActivationRow]:
    """An empty activations table, keyed by claim."""
    return Table("activations")


def wallet_ledger_table() -> Table[str, WalletCreditRow]:
    """An empty wallet ledger, keyed by its unique claim id: one credit per claim."""
    return Table("wallet_ledger")


class FakeActivations:
    """The activation repository in memory (see ``app.services.unit_of_work.ActivationRepository``)."""

    def __init__(
        self,
        rows: TableView[str, ActivationRow],
        wallet: TableView[str, WalletCreditRow],
        claims: TableView[str, ClaimRow],
    ) -> None:
        self._rows = rows
        self._wallet = wallet
        self._claims = claims

    def record(
        self, granted: Sequence[tuple[RewardGrant, str | None]], *, activator: str, now: datetime
    ) -> int:
        """Record each grant (with the platform's reference) once per claim; how many were new."""
        return sum(
            self._rows.insert(
                grant.claim_id,
                ActivationRow(grant.claim_id, activator, external_ref, _amount(grant.amount), now),
            )
            for grant, external_ref in granted
        )

    def credit_wallets(self, grants: Sequence[RewardGrant], *, now: datetime) -> int:
        """Credit each customer's wallet once per claim (the wallet activator); how many were new."""
        return sum(
            self._wallet.insert(
                g.claim_id,
                WalletCreditRow(
                    id=self._wallet.table.next_id(),
                    claim_id=g.claim_id,
                    campaign_id=g.campaign_id,
                    customer_id=g.customer_id,
                    reward_type=g.reward_type,
                    amount=_amount(g.amount),
                    created_at=now,
                ),
            )
            for g in grants
        )

    def credits_per_claim(self) -> dict[str, int]:
        """How many wallet credits each claim received (always 1; for invariant checks)."""
        return {row.claim_id: 1 for row in self._wallet.rows()}

    def granted_total(self, campaign_id: int) -> Decimal:
        """The sum of the amounts recorded as granted for a campaign's claims."""
        total = Decimal(0)
        for row in self._rows.rows():
            claim = self._claims.get(row.claim_id)  # an activation without its claim row is not counted
            if claim is not None and claim.campaign_id == campaign_id:
                total += row.amount
        return total


def _amount(amount: Decimal) -> Decimal:
    stored = numeric_column(amount)
    assert stored is not None
    return stored
