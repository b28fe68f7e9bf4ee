"""The start-up check every process runs: no secret may be missing, well known or weak.

Why at start-up and in every process: a forged EventTypeID 4 once canceled a live campaign
because the listener token was the documented placeholder. A process that refuses to start with a
message saying how to fix it is noticed at once; a weak secret is noticed by an attacker first.

Embedded mode (SQLite and the file-system broker: one machine and no servers, what `promobridge
demo` runs) differs in two ways only. A missing listener token is generated once into the data
directory (mode 0600) instead of refusing, so a clean clone works with no configuration; and
processes that never call Optimove (web, beat, Flower) start without an Optimove key. A token
that is set must be strong everywhere, and Flower on a network address needs a strong password
whatever the database.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn
from urllib.parse import urlsplit

from app.errors import ConfigurationError

if TYPE_CHECKING:
    from app.config import Settings

Process = Literal["web", "worker", "relay", "beat", "register", "flower", "run"]
# The processes that call Optimove or OptiPromo with the API key (`run` starts workers and a relay).
CALLS_OPTIMOVE: frozenset[Process] = frozenset({"worker", "relay", "register", "run"})
# The processes that serve the campaign console, whose sessions CONSOLE_SECRET_KEY signs.
SERVES_CONSOLE: frozenset[Process] = frozenset({"web", "run"})

MIN_LISTENER_TOKEN_LENGTH = 32
MIN_FLOWER_PASSWORD_LENGTH = 16
# Fewer distinct characters than this is a typed pattern ("aaaa…", "1234…"), not a random secret.
MIN_DISTINCT_CHARACTERS = 10
SECRET_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
# The simulator's default key (simulator.config.DEFAULT_API_KEY; app/ does not import the simulator).
SIMULATOR_API_KEY = "sim-key"
# Placeholders from documentation, examples and this repository's history: known to everyone.
KNOWN_VALUES = frozenset(
    {
        "change-me-listener-token",
        "demo-listener-token",
        "bench-listener-token",
        "chaos-listener-token",
        "e2e-listener-token-7f3a9c",
        "run-token",
        "admin",
        "password",
        "promobridge",
        "secret",
        "token",
    }
)
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "your-", "example")
EMBEDDED_TOKEN_FILE = "listener-token"
EMBEDDED_CONSOLE_KEY_FILE = "console-secret-key"
MIN_CONSOLE_KEY_LENGTH = 32
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class SecretsMisconfigured(ConfigurationError):
    """A process refused to start: a secret is missing, well known or weak (the message lists each)."""

    def __init__(self, process: Process, problems: list[str]) -> None:
        self.process = process
        self.problems = problems
        lines = [f"promobridge {process} refuses to start: its secrets are not safe."]
        lines += [f"  - {problem}" for problem in problems]
        lines += [
            "Fix: run `promobridge init` to write a .env with fresh secrets (then fill in what it marks),",
            f"or make a secret with: {MAKE_A_SECRET}",
        ]
        super().__init__("\n".join(lines))


def new_secret() -> str:
    """A fresh random secret, URL-safe (it goes into the listener URL)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def fresh_secrets_env() -> dict[str, str]:
    """Fresh secrets for processes started together on this machine (the demo, benchmarks, tests).

    OPTIMOVE_API_KEY is for a simulator the caller starts with ``--api-key`` set to the same value.
    """
    return {
        "LISTENER_TOKEN": new_secret(),
        "OPTIMOVE_API_KEY": f"sim-{new_secret()}",
        "FLOWER_BASIC_AUTH": f"ops:{new_secret()}",
        "CONSOLE_SECRET_KEY": new_secret(),
    }


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost); '' and 0.0.0.0 do not."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether `url` points at this machine."""
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def check_secrets(settings: Settings, process: Process, *, flower_address: str | None = None) -> list[str]:
    """Every reason `process` must not start with these settings (empty when it may)."""
    problems = _listener_token_problems(settings)
    if process in SERVES_CONSOLE:
        problems += _console_key_problems(settings)
    if not settings.is_embedded or process in CALLS_OPTIMOVE:
        problems += _api_key_problems(settings)
    if process == "flower" and not is_loopback_host(flower_address):
        problems += _flower_problems(settings.flower_basic_auth, flower_address or "every interface")
    return problems


def require_safe_secrets(settings: Settings, process: Process, *, flower_address: str | None = None) -> None:
    """Raise SecretsMisconfigured when `process` must not start with these settings."""
    problems = check_secrets(settings, process, flower_address=flower_address)
    if problems:
        raise SecretsMisconfigured(process, problems)


def exit_unless_secrets_are_safe(settings: Settings, process: Process) -> None:
    """For entry points outside the CLI (signals, `python -m`): print why and exit 2 rather than start."""
    try:
        require_safe_secrets(settings, process)
    except SecretsMisconfigured as exc:
        _refuse(str(exc))


def _refuse(message: str) -> NoReturn:
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(2)


def with_listener_token(settings: Settings) -> Settings:
    """The settings with a listener token: in embedded mode, when none is set, the data directory's own."""
    if settings.listener_token or not settings.is_embedded:
        return settings
    return settings.model_copy(update={"listener_token": embedded_listener_token(settings.data_dir)})


def with_console_secret_key(settings: Settings) -> Settings:
    """The settings with a console key: in embedded mode, when none is set, the data directory's own."""
    if settings.console_secret_key or not settings.is_embedded:
        return settings
    key = _embedded_secret(settings.data_dir, EMBEDDED_CONSOLE_KEY_FILE)
    if _token_problem(key):
        path = settings.data_dir / EMBEDDED_CONSOLE_KEY_FILE
        raise ConfigurationError(f"{path} does not hold a usable console key: delete it to make a new one")
    return settings.model_copy(update={"console_secret_key": key})


def embedded_listener_token(data_dir: Path) -> str:
    """The token generated once for this data directory (mode 0600), shared by its web and register."""
    token = _embedded_secret(data_dir, EMBEDDED_TOKEN_FILE)
    if _token_problem(token):
        path = data_dir / EMBEDDED_TOKEN_FILE
        raise ConfigurationError(f"{path} does not hold a usable listener token: delete it to make a new one")
    return token


def _embedded_secret(data_dir: Path, file_name: str) -> str:
    """A secret generated once into `data_dir/file_name` (mode 0600), shared by every process using it."""
    path = data_dir / file_name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(new_secret() + "\n")
            # link() publishes the whole file at once and fails if another process got there first:
            # gunicorn's workers start together, and every one must end up with the same token.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text().strip()


def _token_problem(token: str) -> str | None:
    if not token:
        return "is not set"
    if _is_well_known(token):
        return "is a well-known placeholder"
    if len(token) < MIN_LISTENER_TOKEN_LENGTH:
        return f"is {len(token)} characters long; it needs at least {MIN_LISTENER_TOKEN_LENGTH}"
    if len(set(token)) < MIN_DISTINCT_CHARACTERS:
        return "is a pattern, not a random secret"
    return None


def _listener_token_problems(settings: Settings) -> list[str]:
    if not settings.listener_token and settings.is_embedded:
        return []  # generated into the data directory by the processes that use it
    problem = _token_problem(settings.listener_token)
    if problem is None:
        return []
    return [
        f"LISTENER_TOKEN {problem}. It is the only thing that authenticates Optimove's webhooks "
        f"(a forged EventTypeID 4 cancels a live campaign): use a random value of at least "
        f"{MIN_LISTENER_TOKEN_LENGTH} characters."
    ]


def _console_key_problems(settings: Settings) -> list[str]:
    if not settings.console_secret_key and settings.is_embedded:
        return []  # generated into the data directory by the web process
    problem = _token_problem(settings.console_secret_key)
    if problem is None:
        return []
    return [
        f"CONSOLE_SECRET_KEY {problem}. It signs the campaign console's sessions (whoever knows it can "
        f"sign in as any console user): use a random value of at least {MIN_CONSOLE_KEY_LENGTH} characters."
    ]


def _api_key_problems(settings: Settings) -> list[str]:
    optimove_key = settings.optimove_api_key
    if not optimove_key:
        hint = f" (the local simulator accepts {SIMULATOR_API_KEY})" if settings.is_embedded else ""
        return [f"OPTIMOVE_API_KEY is not set: set it to the API key Optimove gave your tenant{hint}."]
    problems = []
    keys = [("OPTIMOVE_API_KEY", optimove_key, "OPTIMOVE_API_URL", settings.optimove_api_url)]
    optipromo_name = "OPTIPROMO_API_KEY" if settings.optipromo_api_key else "OPTIMOVE_API_KEY"
    keys.append(
        (optipromo_name, settings.resolved_optipromo_api_key, "OPTIPROMO_API_URL", settings.optipromo_api_url)
    )
    for name, key, url_name, url in keys:
        if key == SIMULATOR_API_KEY and not is_loopback_url(url):
            problems.append(
                f"{name} is the simulator's well-known key {SIMULATOR_API_KEY!r}, but {url_name} "
                f"({urlsplit(url).hostname or url}) is not a simulator on this machine: "
                "set the API key Optimove gave your tenant."
            )
        elif key != SIMULATOR_API_KEY and _is_well_known(key):
            problems.append(f"{name} is a placeholder: set the API key Optimove gave your tenant.")
    return list(dict.fromkeys(problems))


def _flower_problems(basic_auth: str, address: str) -> list[str]:
    exposed = f"Flower listens on {address}, reachable from the network"
    if not basic_auth:
        return [
            f"FLOWER_BASIC_AUTH is not set and {exposed}: anyone could read task arguments and "
            "control the workers. Set FLOWER_BASIC_AUTH=user:password (a random password of at least "
            f"{MIN_FLOWER_PASSWORD_LENGTH} characters), or run Flower on 127.0.0.1."
        ]
    problems = []
    for credential in basic_auth.split(","):
        user, separator, password = credential.partition(":")
        if not separator or not user.strip() or not password:
            problems.append("FLOWER_BASIC_AUTH must be user:password[,user2:password2].")
        elif _is_well_known(password):
            problems.append(
                f"FLOWER_BASIC_AUTH for {user!r} has a well-known placeholder password ({exposed})."
            )
        elif len(password) < MIN_FLOWER_PASSWORD_LENGTH or len(set(password)) < MIN_DISTINCT_CHARACTERS:
            problems.append(
                f"FLOWER_BASIC_AUTH for {user!r} has a weak password ({exposed}): use a random one of "
                f"at least {MIN_FLOWER_PASSWORD_LENGTH} characters."
            )
    return list(dict.fromkeys(problems))


def _is_well_known(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in KNOWN_VALUES or any(marker in lowered for marker in PLACEHOLDER_MARKERS)
