"""API clients of the claims API and what their keys may do (framework-free)."""

from __future__ import annotations

# Claims belong to the operator, not to the backend that sent them: any key with `claims` may
# submit a claim and read any claim. `campaigns:read` reads campaign reports; `admin` may do
# everything, including what the admin API adds.
SCOPE_CLAIMS = "claims"
SCOPE_CAMPAIGNS_READ = "campaigns:read"
SCOPE_ADMIN = "admin"
SCOPES = frozenset({SCOPE_CLAIMS, SCOPE_CAMPAIGNS_READ, SCOPE_ADMIN})
DEFAULT_SCOPES = frozenset({SCOPE_CLAIMS})
