"""What every section gets: the config, the running stack, the claim runner, and the runs others reuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.alternation import off_on_order
from benchmarks.claims.config import ClaimsBenchConfig
from benchmarks.claims.load import LoadGenerator
from benchmarks.claims.runs import ClaimRunner, ClaimsRun
from benchmarks.claims.stack import BenchStack, Pipeline

Say = Callable[[str], None]

# One claim-mode campaign per run, so no run's claims mix with another's.
INGRESS, BURST, PACED, BUDGET = 9101, 9102, 9103, 9104
ONE_WORKER, TWO_WORKERS, HTTP_FAILING = 9105, 9106, 9108
HTTP_PACED, HTTP_FAILING_PACED = 9111, 9112  # (f)'s latency runs, paced at half its bursts' rates
ACTIVATOR_ROUNDS_FROM = 9113  # (f): wallet and HTTP bursts alternating, one campaign each, 9113, …
ACTIVATOR_ROUNDS = 3  # (f): bursts of each activator, wallet, HTTP, HTTP, wallet, wallet, HTTP: 9113-9118
NAIVE = 9110  # the naive pipeline's campaign: in the simulator only, promobridge never hears of it
TRAIL_ROUNDS_FROM = 9120  # (g): one campaign per burst, 9120, 9121, …


@dataclass
class Context:
    """The run shared by the sections."""

    config: ClaimsBenchConfig
    stack: BenchStack
    runner: ClaimRunner
    load: LoadGenerator
    say: Say
    wallet: ClaimsRun | None = None  # (b)'s end-to-end run: (c) halves its rate

    def wallet_run(self) -> ClaimsRun:
        """(b)'s end-to-end burst with the wallet activator, measured now if (b) did not run."""
        if self.wallet is None:
            self.say("  measuring (b)'s end-to-end maximum first (the wallet activator, one worker) …")
            self.stack.run_pipeline(Pipeline())
            self.wallet = self.runner.burst(BURST, self.config.claims)
        return self.wallet

    def alternating_bursts(
        self, rounds: int, first_campaign: int, label: Callable[[bool], str], switch: Callable[[bool], None]
    ) -> list[tuple[bool, ClaimsRun]]:
        """`rounds` bursts of each side, in the order off, on, on, off, … (campaigns from
        `first_campaign`, one each); before each, `switch(on)` readies the side `label(on)` names."""
        ran: list[tuple[bool, ClaimsRun]] = []
        for n, on in enumerate(off_on_order(rounds)):
            self.say(f"  burst {n + 1} of {2 * rounds}: {label(on)} …")
            switch(on)
            run = self.runner.burst(first_campaign + n, self.config.claims)
            self.say(f"    {run.rate:,.1f} claims/s, p99 {run.p99:.2f} s")
            ran.append((on, run))
        return ran


def campaign_sizes(config: ClaimsBenchConfig, ingress_audience: int) -> dict[int, int]:
    """The campaigns the chosen sections claim on, and their audiences."""
    chosen, claims = set(config.sections), config.claims
    sizes: dict[int, int] = {}
    if "a" in chosen:
        sizes[INGRESS] = ingress_audience
    if chosen & {"b", "c"}:
        sizes[BURST] = claims
    if "c" in chosen:
        sizes[PACED] = claims
    if "d" in chosen:
        sizes[BUDGET] = config.budget_claims
    if "e" in chosen:
        sizes[ONE_WORKER] = sizes[TWO_WORKERS] = claims
    if "f" in chosen:
        sizes |= {ACTIVATOR_ROUNDS_FROM + n: claims for n in range(2 * ACTIVATOR_ROUNDS)}
        sizes[HTTP_FAILING] = claims
        sizes[HTTP_PACED] = sizes[HTTP_FAILING_PACED] = claims
    if "g" in chosen:
        sizes |= {TRAIL_ROUNDS_FROM + n: claims for n in range(2 * config.trail_rounds)}
    return sizes
