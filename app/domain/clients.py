"""API clients of the claims API and what their keys may do (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Claims belong to the operator, not to the backend that sent them: any key with `claims` may
# submit a claim and read any claim. `campaigns:read` reads campaign reports; `customers:read`
# reads a customer's trail (the support desk's key); `admin` may do everything, including what the
# admin API adds.
SCOPE_CLAIMS = "claims"
SCOPE_CAMPAIGNS_READ = "campaigns:read"
SCOPE_CUSTOMERS_READ = "customers:read"
SCOPE_ADMIN = "admin"
SCOPES = frozenset({SCOPE_CLAIMS, SCOPE_CAMPAIGNS_READ, SCOPE_CUSTOMERS_READ, SCOPE_ADMIN})
DEFAULT_SCOPES = frozenset({SCOPE_CLAIMS})


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A backend allowed to call the claims API, and what its key may do."""

    id: int
    name: str
    key_id: str
    key_hash: str
    rate_limit_per_minute: int
    revoked: bool
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client to store; only the hash of its key's secret is kept."""

    name: str
    key_id: str
    key_hash: str
    rate_limit_per_minute: int
    scopes: frozenset[str]
    created_at: datetime
