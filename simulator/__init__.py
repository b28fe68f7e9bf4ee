"""A stand-in for Optimove's API, run as a separate HTTP process by the demo, tests and benchmarks.

Where the vendor contract is unknown, the simulator implements the documented inference; every such
choice is listed in ``simulator.contract``. Start one with ``simulator.server.SimulatorServer`` or
``promobridge simulator``.
"""
