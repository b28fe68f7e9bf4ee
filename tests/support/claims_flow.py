"""Runs flow C in-process (no Celery) against the simulator: what the claim workers would do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from app.adapters.activators.wallet import WalletLedgerActivator
from app.adapters.optimove.optipromo import OptiPromoClient
from app.adapters.ratelimit import UnlimitedLimiter
from app.clock import utcnow
from app.domain.campaigns import CampaignMode
from app.domain.claims import ClaimRequest
from app.policies.rewards import RewardPipeline, VipMultiplier
from app.services.activation import ActivationConfig, ActivationResult, activate_validated
from app.services.claim_recovery import reconcile_claims
from app.services.claims import Submission, SubmittedClaim, submit_claim
from app.services.ports import RewardActivator
from app.services.relay import RelayConfig, relay_once
from app.services.validation import (
    ValidationConfig,
    ValidationDoorbell,
    ValidationStep,
    validate_pending,
    validation_targets,
)
from simulator.server import SimulatorServer
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher
from tests.support.flow import InProcessFlow, ingest_config, simulator_client, webhook_payload
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory


def claim_mode_campaign(engine: Engine, sim_server: SimulatorServer, size: int, **spec: object) -> int:
    """A claim-mode campaign of `size` customers, ingested and ready for claims."""
    sim = SimControl(sim_server.url)
    campaign_id = int(sim.create_campaign(size, **spec)["campaign_id"])
    flow = InProcessFlow(
        engine, simulator_client(sim_server.optimove_url), ingest_config(mode=CampaignMode.CLAIM)
    )
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    return campaign_id


class InProcessClaims:
    """Submits claims and runs the dispatched validate/activate/status steps inside the test.

    Activation runs as the activate task does: one round per dispatched batch, the claims to retry
    queued again (without waiting for the countdown). With ``reconcile`` the reconciler runs before
    every step with a clock a day ahead, so it re-dispatches every non-terminal claim each time.
    """

    def __init__(
        self,
        engine: Engine,
        sim_server: SimulatorServer,
        *,
        max_contexts: int = 100,
        activator: RewardActivator | None = None,
        max_retries: int = 8,
        reconcile: bool = False,
    ) -> None:
        self.engine = engine
        self.uow = SqlAlchemyUnitOfWorkFactory(engine)
        self.flow = InProcessFlow(engine, simulator_client(sim_server.optimove_url), ingest_config())
        self.dispatcher = self.flow.dispatcher
        self.optipromo = OptiPromoClient(
            base_url=sim_server.optipromo_url,
            api_key="sim-key",
            rate_limiter=UnlimitedLimiter(),
            timeout_seconds=5,
        )
        self.activator = activator or WalletLedgerActivator()
        self.activation = ActivationConfig(max_attempts=max_retries + 1)
        self.reconcile = reconcile
        self.rewards = RewardPipeline([VipMultiplier()])
        self.validation = ValidationConfig(max_contexts=max_contexts, max_attempts=max_retries + 1)
        self.coordination = MemoryCoordination()
        self.doorbell = ValidationDoorbell(self.coordination, self.dispatcher)
        self.validation_results: list[ValidationStep] = []
        self.activation_results: list[ActivationResult] = []

    def submit(
        self,
        campaign_id: int,
        customer_id: str,
        *,
        key: str | None = None,
        session: dict[str, object] | None = None,
    ) -> SubmittedClaim:
        return submit_claim(
            self.uow,
            self.doorbell,
            ClaimRequest(campaign_id, customer_id, session or {}),
            Submission(None, key, "test"),
        )

    def wake(self, claim_ids: list[str]) -> None:
        """Ring the validators of claims submitted elsewhere (through another edge's dispatcher)."""
        with self.uow() as uow:
            targets = validation_targets(uow, claim_ids)
        self.doorbell.ring_all(targets)

    def drain(self) -> None:
        """Run every dispatched step until nothing is left, relaying the outbox whenever nothing else
        is (as the relay process does, woken by the statuses queued)."""
        d = self.dispatcher
        while True:
            if self.reconcile:
                reconcile_claims(
                    self.uow,
                    self.doorbell,
                    stale_after=timedelta(0),
                    clock=lambda: utcnow() + timedelta(days=1),
                )
            if d.validations:
                self.validate(d.validations.popleft())
            elif d.activations:
                self.activate(d.activations.popleft())
            else:
                d.status_rounds = 0
                while relay_once(self.uow, self.flow.client, RelayConfig(batch_size=10_000)) is not None:
                    pass
                if not (d.validations or d.activations or d.status_rounds):
                    return

    def validate(self, target: tuple[int, str | None]) -> ValidationStep:
        """What the validate task does for a (campaign, promo code)."""
        result = validate_pending(self.uow, self.optipromo, self.doorbell, self.validation, *target)
        self.validation_results.append(result)
        return result

    def activate(self, claim_ids: list[str]) -> ActivationResult:
        """What the activate task does: one round, and its retries queued again (countdown skipped)."""
        result = activate_validated(self.uow, self.activator, self.rewards, claim_ids, self.activation)
        self.activation_results.append(result)
        if result.retry:
            self.dispatcher.activations.append(list(result.retry))
        return result

    def drain_validations_and_one_activation_round(self) -> ActivationResult:
        """Validate everything pending, then run one activation round (its retries stay queued)."""
        while self.dispatcher.validations:
            self.validate(self.dispatcher.validations.popleft())
        return self.activate(self.dispatcher.activations.popleft())


def submit_directly(
    engine: Engine, request: ClaimRequest, *, client_id: int | None = None, key: str | None = None
) -> SubmittedClaim:
    """Submit a claim through the service, as an edge would; its doorbell rings a recording dispatcher."""
    return submit_claim(
        SqlAlchemyUnitOfWorkFactory(engine),
        ValidationDoorbell(MemoryCoordination(), RecordingDispatcher()),
        request,
        Submission(client_id, key, "test"),
    )
