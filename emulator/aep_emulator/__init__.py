"""An emulator of Adobe IMS and Experience Platform APIs on loopback, for tests and users' CI.

>>> from aep_emulator import Emulator
>>> with Emulator() as emu:                       # doctest: +SKIP
...     client = PlatformClient(credentials, emu.hosts)

See :mod:`aep_emulator.server` for the request pipeline and the SQL engine choice.
"""

from .errors import EmulatorError
from .faults import Fault, FaultPlan
from .serve import serve
from .server import Emulator, Hosts, Request, Response, Router

__all__ = ["Emulator", "EmulatorError", "Fault", "FaultPlan", "Hosts", "Request", "Response",
           "Router", "serve"]
