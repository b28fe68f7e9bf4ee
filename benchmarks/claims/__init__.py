"""`promobridge bench claims`: every figure of issue 9 ("Deliver 4"), from one run on one topology.

One broker and worker topology for the whole run (Redis; one worker process `-c N`, two in section
e; `promobridge web` with 2 gunicorn workers; the relay; the simulator; PostgreSQL), all started
here, and each section prints its figures beside a baseline measured in the same run, the ratio,
issue 9's target and a verdict:

a. `POST /v1/claims` beside the ingress skeleton, with and without 50 long polls (`ingress`)
b. end-to-end claims/s beside the no-op chain and the naive pipeline (`pipeline`)
c. claim → status delivered at half of (b)'s rate (`pipeline`)
d. claims/s under the shared rate limit beside its ceiling (`budget`)
e. one worker process and two, with every process group's CPU (`pipeline`, `cpu`)
f. the HTTP reward activator at ~20 ms a grant, with and without failing grants (`activator`)

The processes and campaigns are in `stack`, the load generators (wrk, Python) in `load`, the
submitted batches of claims and their timestamps in `runs`, the baselines in `skeleton` and
`naive`, the rendering in `report`.
"""

from benchmarks.claims.bench import ClaimsBenchReport, run_benchmark
from benchmarks.claims.config import SECTIONS, ClaimsBenchConfig

__all__ = ["SECTIONS", "ClaimsBenchConfig", "ClaimsBenchReport", "run_benchmark"]
