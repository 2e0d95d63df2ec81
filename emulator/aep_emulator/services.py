"""The service modules the emulator serves, in registration order.

Each name is a module ``aep_emulator.<name>`` with ``register(router, emu)``. A module that
does not exist yet is skipped with a warning, so the emulator works while a service is being
written.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import Emulator, Router

SERVICES = ["ims", "queryroutes", "schedules", "catalog", "flowroutes", "labels", "ingest",
            "schemas", "segments"]


def register_all(router: Router, emu: Emulator, services: list[str] | None = None) -> list[str]:
    """Register every available service module on ``router``; the names registered."""
    registered = []
    for name in services if services is not None else SERVICES:
        module_name = f"{__package__}.{name}"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            warnings.warn(f"emulator: service module {module_name} is missing; its paths answer 404",
                          RuntimeWarning, stacklevel=2)
            continue
        module.register(router, emu)
        registered.append(name)
    return registered
