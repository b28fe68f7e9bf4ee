"""`python -m app.cli` runs the promobridge CLI."""

from app.cli import main

main()
