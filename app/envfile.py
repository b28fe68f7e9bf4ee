"""The `.env` that `promobridge init` writes: `.env.example` with fresh secrets and marked blanks.

Framework-free and without I/O: the command reads the template and writes the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.security import new_secret

COMPOSE_DATABASE = "promobridge"  # user and database of docker-compose.yml's PostgreSQL
FILL_IN_MARKER = "# FILL IN:"
# What only the operator knows, and why it matters.
OPERATOR_VALUES = {
    "OPTIMOVE_API_KEY": "the API key Optimove gave your tenant (nothing starts without it).",
    "OPTIMOVE_API_URL": "your tenant's API base including /current (Optimove Support gives you apiX).",
    "OPTIPROMO_API_URL": "your tenant's OptiPromo API base.",
    "PROMOBRIDGE_PUBLIC_URL": "the public https URL at which Optimove reaches this web process.",
}


@dataclass(frozen=True)
class EnvFile:
    """The rendered file, and the names (never the values) of what was generated and left to fill in."""

    text: str
    generated: tuple[str, ...]
    to_fill_in: tuple[str, ...]


def fresh_deployment_secrets() -> dict[str, str]:
    """Every secret the stack needs, freshly generated (DATABASE_URL carries the PostgreSQL password)."""
    password = new_secret()
    return {
        "LISTENER_TOKEN": new_secret(),
        "CONSOLE_SECRET_KEY": new_secret(),
        "FLOWER_BASIC_AUTH": f"admin:{new_secret()}",
        "POSTGRES_PASSWORD": password,
        "DATABASE_URL": f"postgresql://{COMPOSE_DATABASE}:{password}@127.0.0.1:5432/{COMPOSE_DATABASE}",
    }


def render_env_file(template: str | None, secrets: Mapping[str, str]) -> EnvFile:
    """`template` (the text of .env.example) with `secrets` filled in and the operator's values marked.

    Secrets the template does not list are appended; without a template (an installed package
    has no .env.example) the file holds only the secrets and the values to fill in.
    """
    lines = [
        f"# Written by `promobridge init`: fresh secrets; fill in the lines marked {FILL_IN_MARKER!r}.",
        "",
    ]
    seen: set[str] = set()
    for line in (template or "").splitlines():
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator or line.lstrip().startswith("#"):
            lines.append(line)
            continue
        seen.add(name)
        if name in secrets:
            lines.append(f"{name}={secrets[name]}")
            continue
        if name in OPERATOR_VALUES:
            lines.append(f"{FILL_IN_MARKER} {OPERATOR_VALUES[name]}")
        lines.append(f"{name}={value}")
    missing_secrets = [name for name in secrets if name not in seen]
    missing_values = [name for name in OPERATOR_VALUES if name not in seen]
    if missing_secrets or missing_values:
        lines += ["", "# --- Written by promobridge init ---"]
        lines += [f"{name}={secrets[name]}" for name in missing_secrets]
        for name in missing_values:
            lines += [f"{FILL_IN_MARKER} {OPERATOR_VALUES[name]}", f"{name}="]
    return EnvFile(
        text="\n".join(lines) + "\n",
        generated=tuple(secrets),
        to_fill_in=tuple(name for name in OPERATOR_VALUES),
    )
