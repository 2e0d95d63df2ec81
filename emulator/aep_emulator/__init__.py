"""An emulator of Adobe IMS and Experience Platform APIs on loopback, for tests and users' CI.

>>> from aep_emulator import Emulator
>>> with Emulator() as emu:                       # doctest: +SKIP
...     client = PlatformClient(credentials, emu.hosts)

See :mod:`aep_emulator.server` for the request pipeline and the SQL engine choice.
"""

from aep_emulator.faults import Fault, FaultPlan
from aep_emulator.server import Emulator, Request, Response, Router, serve

__all__ = ["Emulator", "Fault", "FaultPlan", "Request", "Response", "Router", "serve"]
