"""The unit of work: one transaction, and the repositories that read and change state inside it.

Services own no transaction and know no database: they open a unit of work from the factory they
are given, call intention-named operations on its repositories, and commit. Leaving the ``with``
block without ``commit()`` rolls everything back. The SQLAlchemy implementation lives in
``app.adapters.db.unit_of_work``; the unit tests use an in-memory one.

Every state change is guarded by the state it expects (a claim moves from ``validated`` to
``activated`` only if it is still ``validated``), so a redelivered task or a duplicated step
changes nothing: the operations return what actually moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self

from app.domain.audience import AudienceMember, DecidedPage, Decision, OperatorFlags, PageCounts
from app.domain.campaigns import Campaign, CampaignMode, CampaignSettings, CampaignState, NewCampaign
from app.domain.claims import (
    ActivatedClaim,
    Admission,
    Claim,
    ClaimDraft,
    ClaimLease,
    ClaimState,
    NewClaim,
    ValidatedClaim,
)
from app.domain.clients import ApiClient, NewClient
from app.domain.console import AuditEntry, ConsoleUser, NewConsoleUser
from app.domain.funnel import ClaimFunnel, TimeBucket
from app.domain.inbox import EventConflict, InboxEvent, NewInboxEvent, StoreResult
from app.domain.outbox import ClaimedBatch, OutboxStats
from app.domain.reconciliation import GrantSummary, IdSample, StatusComparison, StatusMatch
from app.domain.rewards import RewardGrant
from app.domain.safeguards import ServiceSwitch, SettingsRule
from app.domain.trail import StatusRecord, TrailEvent


class ClaimRepository(Protocol):
    """Claims: inserted once per (campaign, customer), moved only by state-guarded operations."""

    def get(self, claim_id: str) -> Claim | None:
        """One claim."""
        ...

    def get_many(self, claim_ids: Sequence[str]) -> list[Claim]:
        """Several claims, in no particular order."""
        ...

    def find_by_idempotency_key(self, client_id: int | None, key: str) -> Claim | None:
        """The claim a client created with this Idempotency-Key."""
        ...

    def find_by_customer(self, campaign_id: int, customer_id: str) -> Claim | None:
        """The one claim of a customer in a campaign."""
        ...

    def add(self, claim: NewClaim) -> Claim | None:
        """Insert the claim and return it as stored; None if one exists for its (campaign, customer)
        or (client, idempotency key)."""
        ...

    def admit(self, draft: ClaimDraft, *, claimable: frozenset[CampaignState]) -> Admission:
        """Read the claim's campaign and, when it is in claim mode and in a `claimable` state, insert
        the claim its customer's audience row decides (``ClaimDraft.judged``) unless one exists for its
        (campaign, customer) or (client, idempotency key); with the claim stored, its
        ``trail_steps.claim_received`` steps go on the trail (when the unit of work keeps one). The
        hot path of a claim: one statement where the database allows it."""
        ...

    def lease_pending(
        self, *, campaign_id: int, promo_code: str | None, limit: int, lease: timedelta, now: datetime
    ) -> ClaimLease:
        """Move up to `limit` pending claims of one campaign and promo code to validating, oldest first."""
        ...

    def release_lease(self, lease_id: str, *, reason: str, now: datetime) -> list[str]:
        """Put a lease's validating claims back to pending (the validation failed transiently)."""
        ...

    def any_on_the_way(self) -> bool:
        """Whether any claim is pending, validating or validated: its status joins the outbox soon."""
        ...

    def count_pending(self, campaign_id: int, promo_code: str | None, *, up_to: int) -> int:
        """How many claims of this campaign and promo code wait for validation, counting up to `up_to`."""
        ...

    def mark_validated(self, validated: Sequence[ValidatedClaim], *, now: datetime) -> list[str]:
        """Validating claims OptiPromo found eligible become validated, with their tier and reward."""
        ...

    def mark_rejected(self, reasons: Mapping[str, str], *, source: ClaimState, now: datetime) -> list[str]:
        """Claims still in `source` (validating or validated) become rejected, each with its reason."""
        ...

    def mark_failed(self, reasons: Mapping[str, str], *, now: datetime) -> list[str]:
        """Live claims (pending, validating, validated) become failed, each with its reason."""
        ...

    def reserve_activation_attempts(
        self, claim_ids: Sequence[str], *, max_attempts: int, now: datetime
    ) -> dict[str, int]:
        """Count one more grant attempt for validated claims under `max_attempts`; their attempt numbers."""
        ...

    def schedule_activation_retry(
        self, reasons: Mapping[str, str], *, due_at: datetime, now: datetime
    ) -> None:
        """Validated claims wait for another activation round, due at `due_at`, keeping their last error."""
        ...

    def mark_activated(self, activated: Sequence[ActivatedClaim], *, now: datetime) -> list[str]:
        """Validated claims (or failed ones whose grant was confirmed late) become activated."""
        ...

    def reserve_rewards(
        self, campaign_id: int, amounts: Mapping[str, Decimal], *, now: datetime
    ) -> list[str]:
        """Hold each amount for a validated claim of the campaign holding none yet, and add what was
        held to the campaign's reserved rewards and amount; the claims that now hold a reservation.
        The caller locks the campaign row first (reservations of one campaign are serialised)."""
        ...

    def release_reservations(self, claim_ids: Sequence[str], *, now: datetime) -> int:
        """Claims not activated give their reservation back to their campaign; how many did."""
        ...

    def mark_completed(self, campaign_id: int, customer_ids: Sequence[str], *, now: datetime) -> int:
        """Activated claims whose status Optimove accepted become completed; how many did."""
        ...

    def expire_leases(self, *, now: datetime) -> list[str]:
        """Validating claims whose lease ran out (their worker died) go back to pending."""
        ...

    def stale(self, *, stale_before: datetime, limit: int) -> list[tuple[str, ClaimState]]:
        """Live claims neither touched nor dispatched since `stale_before` (their task was lost)."""
        ...

    def mark_dispatched(self, claim_ids: Sequence[str], *, now: datetime) -> None:
        """Remember when work for these claims was last handed to the workers."""
        ...

    def reopen_failed(self, claim_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Failed claims go back to pending with a fresh budget of activation attempts (a replay)."""
        ...

    def failed_ids(self, *, limit: int = 10_000, campaign_id: int | None = None) -> list[str]:
        """Claims that used up their retries (of one campaign, when given), oldest first."""
        ...

    def counts_by_state(self, campaign_id: int | None = None) -> dict[str, int]:
        """How many claims are in each state."""
        ...

    def counts_by_reason(self, campaign_id: int | None = None) -> dict[str, int]:
        """Rejected and failed claims by reason."""
        ...

    def funnel(self, campaign_id: int) -> ClaimFunnel:
        """The campaign's claims by state and reason, and how many were validated and rewarded."""
        ...

    def per_minute(self, campaign_id: int, *, since: datetime) -> list[TimeBucket]:
        """Claims submitted per minute since `since`, oldest minute first (empty minutes omitted)."""
        ...

    def validation_batches(self, campaign_id: int, *, since: datetime, limit: int) -> list[TimeBucket]:
        """The latest validation batches of claims submitted since `since`, newest first."""
        ...

    def recent_failed(self, campaign_id: int, *, limit: int) -> list[Claim]:
        """The campaign's failed claims, the most recently failed first."""
        ...


class CampaignRepository(Protocol):
    """Campaigns: created once, moved between states only from the states a move expects."""

    def get(self, campaign_id: int, *, lock: bool = False) -> Campaign | None:
        """One campaign; `lock` holds its row until the unit of work ends (serialises finishers)."""
        ...

    def add(self, campaign: NewCampaign, *, now: datetime) -> bool:
        """Create the campaign; False when it already exists."""
        ...

    def recent(self, *, limit: int = 50) -> list[Campaign]:
        """The most recent campaigns first."""
        ...

    def in_states(self, states: frozenset[CampaignState]) -> list[Campaign]:
        """Campaigns in any of `states`, earliest deadline first."""
        ...

    def finish_ingest(self, campaign_id: int, target: CampaignState, *, now: datetime) -> bool:
        """An ingesting campaign is ingested: ready (claim), approving or approved (auto)."""
        ...

    def finish_approvals(self, campaign_id: int, *, now: datetime) -> bool:
        """An approving campaign has sent every approval."""
        ...

    def cancel(self, campaign_id: int, *, now: datetime) -> bool:
        """A live campaign (ingesting, approving, ready) is canceled."""
        ...

    def fail_ingest(self, campaign_id: int, *, error: str, now: datetime) -> bool:
        """An ingesting campaign failed (paging broken, Optimove refused), with the reason."""
        ...

    def add_page_counters(
        self,
        campaign_id: int,
        *,
        rows: int,
        eligible: int,
        scrubbed: int,
        last_page: int | None,
        now: datetime,
    ) -> None:
        """Add one finished page to the campaign's counters (and note the last page when it was short)."""
        ...

    def add_approvals_sent(self, campaign_id: int, *, customers: int, resent: int, now: datetime) -> None:
        """Count one accepted UpdateCustomerPromotionStatus call."""
        ...

    def record_error(self, campaign_id: int, error: str, *, now: datetime) -> None:
        """Keep the latest error seen while working on the campaign."""
        ...

    def mark_at_risk(self, campaign_id: int, *, now: datetime) -> bool:
        """Flag the campaign as at risk of missing its deadline; True the first time."""
        ...

    def hold(self, campaign_id: int, reason: str, *, now: datetime) -> bool:
        """Hold a live campaign that is not held yet (no approval, validation or activation for it)."""
        ...

    def release(self, campaign_id: int, *, now: datetime) -> bool:
        """Release a held campaign; False when it was not held."""
        ...

    def settle_first_page(
        self, campaign_id: int, *, mode: CampaignMode, mode_from: str, promo_code: str | None, now: datetime
    ) -> bool:
        """At its first pages: record the campaign's promo code (if none yet) and fix its mode (if
        not settled yet); False when both were there already."""
        ...

    def change_mode(self, campaign_id: int, mode: CampaignMode, *, mode_from: str, now: datetime) -> bool:
        """Change an ingesting campaign's mode (the caller checked nothing was approved or claimed)."""
        ...


class PageRepository(Protocol):
    """A scheduled campaign's audience pages: created pending, claimed done exactly once."""

    def create(self, campaign_id: int, page_numbers: Iterable[int], *, now: datetime) -> list[int]:
        """Create the pages that do not exist yet, marked dispatched now; the new page numbers."""
        ...

    def state(self, campaign_id: int, page_no: int) -> str | None:
        """The page's state, or None when it was never created."""
        ...

    def claim(
        self, campaign_id: int, page_no: int, *, row_count: int, first_customer_id: str | None, now: datetime
    ) -> bool:
        """Mark a pending page done; False when it was done already (a redelivered task)."""
        ...

    def repeats_another_page(self, campaign_id: int, page_no: int, first_customer_id: str) -> bool:
        """Whether another page of the campaign started with the same customer (`$skip` ignored)."""
        ...

    def count_done_through(self, campaign_id: int, last_page: int) -> int:
        """How many of pages 0..last_page are done."""
        ...

    def record_error(self, campaign_id: int, page_no: int, error: str) -> None:
        """Keep the last error seen for a page (it stays pending and is retried)."""
        ...

    def claim_stale(self, *, now: datetime, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
        """Pending pages of ingesting campaigns whose task looks lost; marked dispatched again now."""
        ...


class AudienceRepository(Protocol):
    """Who each campaign targets, and the policies' verdict on each of them."""

    def write_page(
        self, campaign_id: int, page_no: int, decisions: Sequence[Decision] | DecidedPage
    ) -> PageCounts:
        """Write a page of decided rows (a row already there is kept) and count the rows the page owns."""
        ...

    def member(self, campaign_id: int, customer_id: str) -> AudienceMember | None:
        """The customer's audience row, or None when they are not targeted."""
        ...

    def add_member_if_absent(
        self,
        campaign_id: int,
        customer_id: str,
        *,
        page_no: int,
        promo_code: str | None,
        segment: str | None,
        eligible: bool,
        scrub_reason: str | None,
    ) -> bool:
        """Add one customer unless they are in the audience already; True when added."""
        ...

    def scrub_member(self, campaign_id: int, customer_id: str, *, reason: str) -> bool:
        """Narrow the audience: an eligible customer becomes scrubbed (never the other way round)."""
        ...

    def scrub_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many customers each scrub reason removed."""
        ...

    def segment_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many eligible customers fell in each segment."""
        ...

    def decisions_page(self, campaign_id: int, *, after: str | None, limit: int) -> list[Decision]:
        """Up to `limit` customers of the audience after customer id `after`, in customer id order,
        each as Optimove listed them (attributes included) with the verdict stored for them."""
        ...


class OutboxRepository(Protocol):
    """Status updates waiting to reach Optimove, leased in batches of one campaign."""

    def enqueue_statuses(
        self, campaign_id: int, customer_ids: Sequence[str], *, deadline: datetime | None, now: datetime
    ) -> int:
        """Queue Status true for these customers, once per campaign and customer; how many were new."""
        ...

    def enqueue_page_approvals(
        self,
        campaign_id: int,
        page_no: int,
        *,
        deadline: datetime | None,
        now: datetime,
        eligible: int | None = None,
    ) -> int:
        """Queue approvals for every eligible customer of an ingested page (auto mode), once.

        The page's approvals are one unit (not a row per customer) that the relay sends in customer
        id order, several pages or part of one per call; `eligible` is the page's count when the
        caller knows it. Every read of the outbox (stats, backlog, pending count, reconciliation)
        counts its customers. Returns how many approvals were new.
        """
        ...

    def claim_batch(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        linger: timedelta = timedelta(0),
        approvals_paused: bool = False,
        approvals_linger: timedelta = timedelta(0),
    ) -> ClaimedBatch | None:
        """Lease up to `limit` due rows of the most urgent campaign that is not held; None when
        nothing is due. `approvals_paused` (the pause) leaves auto campaigns' approvals waiting:
        only statuses of rewards already granted (claim mode) go.

        `linger`: every campaign's rows wait until the oldest is that old or a full batch waits.
        `approvals_linger`: the same, whatever the budget, for an auto campaign still ingesting."""
        ...

    def mark_sent(self, batch: ClaimedBatch, *, now: datetime, call_id: int | None = None) -> int:
        """Mark the leased rows sent (by status call `call_id`); how many still held the lease."""
        ...

    def release_for_retry(
        self, batch: ClaimedBatch, *, available_at: datetime, error: str, maybe_applied: bool
    ) -> int:
        """Give the leased rows back for a retry at `available_at`; count it if it may have landed."""
        ...

    def mark_dead(self, batch: ClaimedBatch, *, now: datetime, error: str) -> int:
        """Give up on the leased rows (permanent error or too many attempts); they stay visible."""
        ...

    def attempts_of(self, batch: ClaimedBatch) -> int:
        """The highest attempt count among the leased rows."""
        ...

    def cancel_campaign(self, campaign_id: int, *, now: datetime, reason: str) -> int:
        """Stop every pending row of a campaign."""
        ...

    def stats(self, campaign_id: int | None = None) -> OutboxStats:
        """Pending, sent, dead and re-sent rows, and the oldest pending one."""
        ...

    def backlog(self, campaign_id: int) -> tuple[int, datetime | None]:
        """Rows of the campaign waiting to be sent, and when the oldest of them was queued."""
        ...

    def pending_count(self, campaign_id: int) -> int:
        """Rows of the campaign not yet sent nor dead."""
        ...


class ReconciliationRepository(Protocol):
    """One campaign's grants, statuses for Optimove and claims, set against each other.

    A grant is a wallet credit or an activation record (one per claim, whichever exist); a status
    is the campaign's outbox row for a customer. Reads run in the database (joins and counts), so
    a campaign of any size costs the caller a few rows; the two writes repair only what cannot pay
    anyone twice.
    """

    def compare_statuses_with_grants(
        self,
        campaign_id: int,
        *,
        late_before: datetime,
        examples: int,
        examples_of: frozenset[StatusMatch],
    ) -> StatusComparison:
        """Count every customer with a grant or a status by how the two match (a status queued
        before `late_before` is late), with up to `examples` customer ids of each match in
        `examples_of`, in customer order."""
        ...

    def grant_summary(self, campaign_id: int, *, examples: int) -> GrantSummary:
        """Customers rewarded, credits and their amount, and the customers credited more than once."""
        ...

    def resent_statuses(self, campaign_id: int, *, examples: int) -> IdSample:
        """Statuses that reached Optimove in more than one call (a re-send after an ambiguous failure)."""
        ...

    def stuck_claims(
        self, campaign_id: int, *, stale_before: datetime, now: datetime, examples: int
    ) -> IdSample:
        """Claims on their way to a grant (pending, validated) neither moved nor dispatched since
        `stale_before`, or validating under a lease that ran out; their ids, oldest first."""
        ...

    def queue_missing_statuses(self, campaign_id: int, *, deadline: datetime | None, now: datetime) -> int:
        """Queue Status true for every rewarded customer without any status (once: the outbox's
        unique key); how many were queued."""
        ...

    def requeue_dead_statuses(self, campaign_id: int, *, now: datetime) -> int:
        """Queue again, as new, the dead-lettered statuses of rewarded customers (only theirs);
        how many."""
        ...


class InboxRepository(Protocol):
    """Webhook events: stored once, dispatched, processed once; conflicting ones kept apart."""

    def store(self, event: NewInboxEvent) -> StoreResult:
        """Store the event: the first of its kind, a duplicate, or a conflicting one."""
        ...

    def get(self, event_id: int) -> InboxEvent | None:
        """One stored event."""
        ...

    def claim_for_dispatch(self, *, now: datetime, stale_before: datetime, limit: int) -> list[int]:
        """Unprocessed events never dispatched, or whose task looks lost; marked dispatched now."""
        ...

    def mark_processed(self, event_id: int, *, now: datetime, outcome: str) -> bool:
        """Record the event as processed; False if another run already did."""
        ...

    def conflicts_for(self, campaign_id: int, *, limit: int = 20) -> tuple[int, list[EventConflict]]:
        """How many conflicting events a campaign received, and the latest few."""
        ...


class ActivationRepository(Protocol):
    """What was granted, by which activator, and the wallet ledger of the built-in activator."""

    def record(
        self, granted: Sequence[tuple[RewardGrant, str | None]], *, activator: str, now: datetime
    ) -> int:
        """Record each grant (with the platform's reference) once per claim; how many were new."""
        ...

    def credit_wallets(self, grants: Sequence[RewardGrant], *, now: datetime) -> int:
        """Credit each customer's wallet once per claim (the wallet activator); how many were new."""
        ...

    def credits_per_claim(self) -> dict[str, int]:
        """How many wallet credits each claim received (always 1; for invariant checks)."""
        ...

    def granted_total(self, campaign_id: int) -> Decimal:
        """The sum of the amounts recorded as granted for a campaign's claims."""
        ...


class ClientRepository(Protocol):
    """Backends allowed to call the claims API."""

    def add(self, client: NewClient) -> int | None:
        """Store a client; its id, or None when the name is taken."""
        ...

    def find_by_key_id(self, key_id: str) -> ApiClient | None:
        """The client a presented key claims to be."""
        ...

    def all(self) -> list[ApiClient]:
        """Every client, revoked ones included."""
        ...

    def revoke(self, name: str, *, now: datetime) -> bool:
        """Revoke a client's key; True if it was active."""
        ...


class OperatorDataRepository(Protocol):
    """Operator-provided customer data (consent withdrawals, fraud flags, VIP overrides)."""

    def has_any(self) -> bool:
        """Whether the operator loaded any data (most pages can then skip the lookup)."""
        ...

    def flags_for(self, customer_ids: Sequence[str]) -> dict[str, OperatorFlags]:
        """The flags of those customers that have any."""
        ...

    def save(self, rows: Iterable[tuple[str, OperatorFlags]], *, now: datetime) -> int:
        """Insert or replace customers' flags; how many customers were written."""
        ...


class CampaignSettingsRepository(Protocol):
    """What the operator set per campaign id, before or after Optimove announced the campaign."""

    def get(self, campaign_id: int) -> CampaignSettings | None:
        """The campaign's settings, or None."""
        ...

    def save(self, campaign_id: int, *, now: datetime, updated_by: str | None, **values: object) -> None:
        """Create or change a campaign's settings; only the given fields change."""
        ...


class SettingsRuleRepository(Protocol):
    """Defaults by promo code pattern, between a campaign's own settings and the environment."""

    def all(self) -> list[SettingsRule]:
        """Every rule, by pattern."""
        ...

    def save(self, rule: SettingsRule, *, now: datetime) -> None:
        """Create or replace the rule of its pattern."""
        ...

    def delete(self, pattern: str) -> bool:
        """Remove the rule of a pattern; False when there was none."""
        ...


class ServiceSwitchRepository(Protocol):
    """Global switches every process reads per batch (the pause)."""

    def get(self, name: str) -> ServiceSwitch | None:
        """The switch, or None when it was never set (off)."""
        ...

    def set(self, name: str, *, on: bool, by: str | None, reason: str | None, now: datetime) -> bool:
        """Turn the switch on or off; False when it already was so (nothing is changed then)."""
        ...


class ConsoleUserRepository(Protocol):
    """People who sign in to the campaign console."""

    def add(self, user: NewConsoleUser) -> int | None:
        """Store a user; their id, or None when the name is taken."""
        ...

    def get(self, user_id: int) -> ConsoleUser | None:
        """One user by id."""
        ...

    def find_by_name(self, name: str) -> ConsoleUser | None:
        """One user by name."""
        ...

    def all(self) -> list[ConsoleUser]:
        """Every user, disabled ones included, by name."""
        ...

    def disable(self, name: str, *, now: datetime) -> bool:
        """Disable an enabled user; True if they were enabled."""
        ...

    def record_failed_sign_in(
        self, user_id: int, *, max_failures: int, lock_for: timedelta, now: datetime
    ) -> bool:
        """Count a failed sign-in; the one that reaches `max_failures` locks the user. True if it did."""
        ...

    def record_sign_in(self, user_id: int, *, now: datetime) -> None:
        """A successful sign-in clears the failures."""
        ...


class ConsoleAuditRepository(Protocol):
    """Every console action, append-only."""

    def add(self, entry: AuditEntry) -> None:
        """Append one entry."""
        ...

    def recent(self, *, limit: int) -> list[AuditEntry]:
        """The latest entries, newest first."""
        ...


class TrailRepository(Protocol):
    """Every step of every (campaign, customer), append-only: written with the work, read per customer."""

    # Whether what is appended is kept (False: TRAIL_ENABLED=false, appends are dropped).
    recording: bool

    def append(self, events: Sequence[TrailEvent]) -> None:
        """Append the events in one statement (a COPY for a big batch); nothing for none."""
        ...

    def for_customer(
        self, customer_id: str, campaign_id: int | None = None, *, limit: int
    ) -> list[TrailEvent]:
        """The customer's first `limit` events (of one campaign, when given), in the order written."""
        ...

    def first_recorded_at(self) -> datetime | None:
        """When the first event of all was recorded: the trail knows nothing from before."""
        ...

    def record_status_call(
        self, batch: ClaimedBatch, *, outcome: str, error: str | None, now: datetime
    ) -> int | None:
        """Record one status call for the batch (its size, attempt and outcome); its id (None when
        the trail is off)."""
        ...

    def status_of(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        """The customer's status for Optimove (queued, sent or dead) and the last call that carried it."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; rolled back unless committed."""

    @property
    def claims(self) -> ClaimRepository:
        """The claims of this unit of work."""
        ...

    @property
    def campaigns(self) -> CampaignRepository:
        """The campaigns of this unit of work."""
        ...

    @property
    def pages(self) -> PageRepository:
        """The pages of this unit of work."""
        ...

    @property
    def audience(self) -> AudienceRepository:
        """The audience of this unit of work."""
        ...

    @property
    def outbox(self) -> OutboxRepository:
        """The outbox of this unit of work."""
        ...

    @property
    def inbox(self) -> InboxRepository:
        """The inbox of this unit of work."""
        ...

    @property
    def reconciliation(self) -> ReconciliationRepository:
        """A campaign's grants, statuses and claims set against each other, in this unit of work."""
        ...

    @property
    def activations(self) -> ActivationRepository:
        """The activations of this unit of work."""
        ...

    @property
    def clients(self) -> ClientRepository:
        """The clients of this unit of work."""
        ...

    @property
    def operator_data(self) -> OperatorDataRepository:
        """The operator data of this unit of work."""
        ...

    @property
    def campaign_settings(self) -> CampaignSettingsRepository:
        """The campaign settings of this unit of work."""
        ...

    @property
    def settings_rules(self) -> SettingsRuleRepository:
        """The settings rules of this unit of work."""
        ...

    @property
    def switches(self) -> ServiceSwitchRepository:
        """The global switches of this unit of work."""
        ...

    @property
    def console_users(self) -> ConsoleUserRepository:
        """The console users of this unit of work."""
        ...

    @property
    def console_audit(self) -> ConsoleAuditRepository:
        """The console's audit log in this unit of work."""
        ...

    @property
    def trail(self) -> TrailRepository:
        """The customers' trail, written in this unit of work."""
        ...

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """End it: roll back whatever was not committed."""
        ...

    def commit(self) -> None:
        """Make every change of this unit of work durable, at once."""
        ...

    def limit_statement_time(self, milliseconds: int) -> None:
        """Bound how long each statement of this unit of work may run (where the database can)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
