"""An emulator of Adobe IMS and Experience Platform APIs on loopback, for tests and users' CI.

>>> from runner.emulator import Emulator
>>> with Emulator() as emu:                       # doctest: +SKIP
...     client = PlatformClient(credentials, emu.hosts)

See :mod:`runner.emulator.server` for the request pipeline and the SQL engine choice.
"""

from runner.emulator.faults import Fault, FaultPlan
from runner.emulator.server import Emulator, Request, Response, Router, serve

__all__ = ["Emulator", "Fault", "FaultPlan", "Request", "Response", "Router", "serve"]
