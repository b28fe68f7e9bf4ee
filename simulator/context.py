"""How request handlers find their simulator's state (one per Flask app, never a global)."""

from __future__ import annotations

from flask import Flask, current_app

from simulator.state import SimulatorState

STATE_EXTENSION_KEY = "promobridge.simulator"


def attach_state(app: Flask, state: SimulatorState) -> None:
    """Make ``state`` the state of ``app``."""
    app.extensions[STATE_EXTENSION_KEY] = state


def state_of(app: Flask) -> SimulatorState:
    """The state attached to ``app``; raises ``KeyError`` if it is not a simulator app."""
    state: SimulatorState = app.extensions[STATE_EXTENSION_KEY]
    return state


def current_state() -> SimulatorState:
    """The state of the app handling the current request."""
    return state_of(current_app)
