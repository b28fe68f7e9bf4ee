"""Hand-written fakes of the ports, for fast unit tests: an in-memory unit of work and the outside world."""
