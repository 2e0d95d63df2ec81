"""Running an emulator from a shell until interrupted (``python -c "from aep_emulator import serve; serve()"``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg2

from .errors import EmulatorError
from .nested import NestedError
from .server import Emulator


def serve(host: str = "127.0.0.1", port: int = 0, *, seed: Path | None = None,
          env_file: Path | None = None,
          tables: Callable[[str], Mapping[str, Any]] | None = None, **kw: Any) -> None:
    """Run an emulator until interrupted (Ctrl+C or SIGTERM), printing its URL and test credentials.

    Args:
        host: the interface to listen on (keep the default loopback: nothing is authenticated
            beyond the emulator's own test credential).
        port: the port (0 picks a free one).
        seed: a SQL file run in the sandbox database once it exists (raw source tables).
        tables: called with the org's tenant namespace once the sandbox exists, returns Arrow
            tables to create in it (nested XDM kept, :meth:`Emulator.load_tables`).
        env_file: write ``export AEP_...=...`` lines for the runner (the emulator's hosts and
            test credential) to this file, for ``. env_file`` in a shell.
        kw: passed to :class:`Emulator`.
    """
    emu = Emulator(**kw)
    emu.start(host, port)
    try:
        try:
            if seed is not None:
                emu.run_sql(Path(seed).read_text(encoding="utf-8"))
            if tables is not None:
                for name, rows in emu.load_tables(tables(emu.tenant)).items():
                    print(f"source {name}: {rows:,} rows", flush=True)
        except (psycopg2.Error, NestedError) as exc:
            raise EmulatorError(f"emulator: seeding the sandbox failed: "
                                f"{str(exc).strip().splitlines()[0]}") from None
        if env_file is not None:  # atomically: a detached start waits for this file
            tmp = Path(env_file).with_name(Path(env_file).name + ".tmp")
            tmp.write_text("".join(
                f"export {key}='{value}'\n" for key, value in emu.environment().items()))
            os.replace(tmp, env_file)
        print(f"Adobe Platform emulator at {emu.url}\n"
              f"  ims host / platform host: {emu.url}\n"
              f"  org id:        {emu.org_id}\n"
              f"  client id:     {emu.client_id}\n"
              f"  client secret: {emu.client_secret}   (a test credential of this emulator only)\n"
              f"  sandbox:       {emu.sandbox}\n"
              f"  PostgreSQL:    127.0.0.1:{emu.wire.port if emu.wire else '?'} database "
              f"'{emu.sandbox}:all', user '{emu.org_id}', password = an access token\n"
              f"  exports land:  {emu.landing_dir()}\n"
              + (f"  environment:   . {env_file}\n" if env_file is not None else "")
              + "Press Ctrl+C to stop.", flush=True)

        def stop(*_: object) -> None:
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, stop)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
