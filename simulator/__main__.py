"""``python -m simulator`` runs the simulator without the promobridge CLI."""

from simulator.cli import simulator_command

if __name__ == "__main__":
    simulator_command()
