"""The ``exports:`` list of project.yml, validated strictly into :class:`ExportSpec` values.

An export sends one model's built table somewhere an ML environment reads it::

    exports:
      - model: training_set
        destination: {type: data_landing_zone, path: cmle/egress}
        format: parquet            # parquet | json
        compression: gzip          # gzip | none (json is always gzip)
        schedule: ad_hoc           # or {time_unit: hour, interval: 3, start_time, end_time, export_mode}
        targets: [prod]            # optional: the project targets it applies to
        purpose: ml                # ml (default: C9 data is refused) | analytics | ...
        allow_labels: {C9: "why"}  # an audited override of the label policy (reason required)

A destination block may add ``refuse_labels: [C2]``: the data usage labels it never receives
(``runner.run.label_policy``).

Credentials are given only by reference: a ``*_env`` key names an environment variable read when
the export runs. Unknown keys, wrong types, missing fields and combinations Flow Service refuses
(``interval: 5`` hours, ``DAILY_FULL_EXPORT`` without ``day``/``0``) are ``ProjectError``\\s that
name project.yml and the key path.

>>> spec = parse_exports([{"model": "t", "destination": {"type": "local"}}])[0]
>>> spec.name, spec.format, spec.compression, spec.schedule
('local', 'parquet', 'gzip', None)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from destinations.types import DESTINATION_TYPES, EXPORT_MODES, choose_auth, schedule_problem
from runner.validation import PROJECT_FILE, check_keys, expect, normalize_name
from runner.errors import ProjectError

TYPES = ("local", *DESTINATION_TYPES)
_EXPORT_KEYS = {"model", "name", "destination", "format", "compression", "schedule", "targets",
                "wait", "purpose", "allow_labels"}


@dataclass(frozen=True)
class Schedule:
    """A recurring Flow Service schedule (``scheduleParams``); times are unix seconds."""

    time_unit: str
    interval: int
    start_time: int | None = None
    end_time: int | None = None
    export_mode: str | None = None


@dataclass(frozen=True)
class Wait:
    """How long to wait for Flow Service: ad hoc "not ready" retries and run polling (seconds)."""

    adhoc_retries: int = 5
    adhoc_retry_wait: float = 60.0
    run_timeout: float = 3600.0
    poll_interval: float = 30.0


@dataclass(frozen=True)
class ExportSpec:
    """One validated entry of ``exports:``.

    ``params`` holds the destination block without ``type`` (secrets only as ``*_env`` names);
    ``schedule`` is None for an ad hoc export; ``keypath`` (``exports[0]``) locates it in messages.
    ``purpose`` (``ml`` unless said), ``refuse_labels`` (the destination's) and ``allow_labels``
    (label -> the reason it is exported anyway) feed the label policy; label names are checked
    against the project's labels by the run stage.
    """

    model: str
    name: str
    type: str
    params: dict[str, str] = field(hash=False)
    format: str = "parquet"
    compression: str = "gzip"
    schedule: Schedule | None = None
    targets: tuple[str, ...] | None = None
    wait: Wait = Wait()
    keypath: str = "exports"
    purpose: str = "ml"
    refuse_labels: tuple[str, ...] = ()
    allow_labels: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_local(self) -> bool:
        return self.type == "local"

    def config_hash(self) -> str:
        """A digest of everything that shapes the remote objects (not the wait settings)."""
        shape = {"type": self.type, "params": self.params, "format": self.format,
                 "compression": self.compression,
                 "schedule": asdict(self.schedule) if self.schedule else None}
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _fail(keypath: str, message: str) -> ProjectError:
    return ProjectError(f"{keypath}: {message}", PROJECT_FILE)


def parse_exports(raw: Any, keypath: str = "exports") -> list[ExportSpec]:
    """Validate the ``exports:`` list of project.yml strictly.

    Args:
        raw: the parsed YAML value (None = no exports), ``${ENV}`` already substituted.
        keypath: where the list is in project.yml.

    Returns:
        One ExportSpec per entry, in order.

    Raises:
        ProjectError: ``'<key path>: <what is expected>'`` located in project.yml.
    """
    if raw is None:
        return []
    expect(raw, list, keypath, "a list of exports (each with model and destination)")
    specs = [_parse_export(item, f"{keypath}[{i}]") for i, item in enumerate(raw)]
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        key = (spec.model, spec.name)
        if key in seen:
            raise _fail(spec.keypath, f"model '{spec.model}' is already exported as "
                        f"'{spec.name}' by {seen[key]}; give one of them a distinct `name:`")
        seen[key] = spec.keypath
    return specs


def _parse_export(item: Any, keypath: str) -> ExportSpec:
    expect(item, dict, keypath, "a mapping with model and destination")
    check_keys(item, _EXPORT_KEYS, keypath)
    for key in ("model", "destination"):
        if key not in item:
            raise _fail(keypath, f"missing `{key}`")
    model = normalize_name(expect(item["model"], str, f"{keypath}.model", "a model name"))
    destination = item["destination"]
    refuse: list[str] = []
    if isinstance(destination, dict) and "refuse_labels" in destination:
        destination = dict(destination)
        refuse = _names(destination.pop("refuse_labels"), f"{keypath}.destination.refuse_labels")
    dtype, params = _parse_destination(destination, f"{keypath}.destination")
    fmt = _choice(item.get("format", "parquet"), ("parquet", "json"), f"{keypath}.format")
    compression = _choice(item.get("compression", "gzip"), ("gzip", "none"),
                          f"{keypath}.compression")
    if fmt == "json" and compression == "none":
        raise _fail(f"{keypath}.compression", "JSON is only exported gzip-compressed; "
                    "use `compression: gzip` or `format: parquet`")
    schedule = _parse_schedule(item.get("schedule"), f"{keypath}.schedule")
    if schedule and dtype == "local":
        raise _fail(f"{keypath}.schedule", "a local export runs with every build and takes no "
                    "schedule; remove it")
    name = expect(item.get("name", dtype), str, f"{keypath}.name", "a name")
    if not name or ":" in name:
        raise _fail(f"{keypath}.name", "expected a non-empty name without ':'")
    targets = item.get("targets")
    if targets is not None:
        expect(targets, list, f"{keypath}.targets", "a list of target names")
        for i, t in enumerate(targets):
            expect(t, str, f"{keypath}.targets[{i}]", "a target name")
        targets = tuple(targets)
    purpose = expect(item.get("purpose", "ml"), str, f"{keypath}.purpose", "a purpose such as ml")
    allow = expect(item.get("allow_labels") or {}, dict, f"{keypath}.allow_labels",
                   "a mapping of label to the reason it may be exported anyway")
    for label, reason in allow.items():
        if not isinstance(reason, str) or not reason.strip():
            raise _fail(f"{keypath}.allow_labels.{label}", "give the reason this export may "
                        f"carry {label} (an audited override: {label}: \"approved by ...\")")
    return ExportSpec(model=model, name=name, type=dtype, params=params, format=fmt,
                      compression=compression, schedule=schedule, targets=targets,
                      wait=_parse_wait(item.get("wait"), f"{keypath}.wait"), keypath=keypath,
                      purpose=purpose.strip().lower(), refuse_labels=tuple(refuse),
                      allow_labels={str(k): v.strip() for k, v in allow.items()})


def _names(raw: Any, keypath: str) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _fail(keypath, f"expected a list of label names such as [C2], got {raw!r}")
    return raw


def _choice(value: Any, choices: tuple[str, ...], keypath: str) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise _fail(keypath, f"expected one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _parse_destination(raw: Any, keypath: str) -> tuple[str, dict[str, str]]:
    expect(raw, dict, keypath, f"a mapping with `type` ({' | '.join(TYPES)}) and its params")
    if "type" not in raw:
        raise _fail(keypath, f"missing `type` (one of: {', '.join(TYPES)})")
    dtype = _choice(raw["type"], TYPES, f"{keypath}.type")
    params = {k: v for k, v in raw.items() if k != "type"}
    if dtype == "local":
        check_keys(params, {"path"}, keypath)
        path = expect(params.get("path", ""), str, f"{keypath}.path", "a relative folder")
        parts = PurePosixPath(path).parts
        if path.startswith(("/", "\\")) or ".." in parts:
            raise _fail(f"{keypath}.path", f"expected a folder relative to target/exports "
                        f"without '..', got {path!r}")
        return dtype, {"path": path.strip("/")}
    spec = DESTINATION_TYPES[dtype]
    check_keys(params, spec.config_keys, keypath)
    for key, value in params.items():
        expect(value, str, f"{keypath}.{key}", "a string")
        if key.endswith("_env") and not value.replace("_", "a").isalnum():
            raise _fail(f"{keypath}.{key}", f"expected the NAME of an environment variable, "
                        f"got {value[:3]}…; never put a credential in project.yml")
    for key in spec.target_params.values():
        if not params.get(key):
            raise _fail(keypath, f"missing `{key}` (required for {dtype})")
    if spec.auths:
        auth = choose_auth(spec, set(params))
        given = [k for k in params if k.endswith("_env")]
        if auth is None or len(given) != len(auth.secret_keys):
            ways = " or ".join(", ".join(a.secret_keys) for a in spec.auths)
            raise _fail(keypath, f"{dtype} needs its credentials by environment variable: {ways}")
        for key in auth.params.values():
            if not params.get(key):
                raise _fail(keypath, f"missing `{key}` (required for {dtype})")
    return dtype, dict(params)


def _parse_schedule(raw: Any, keypath: str) -> Schedule | None:
    if raw is None or raw == "ad_hoc":
        return None
    expect(raw, dict, keypath, "`ad_hoc` or a mapping with time_unit and interval")
    check_keys(raw, {"time_unit", "interval", "start_time", "end_time", "export_mode"}, keypath)
    for key in ("time_unit", "interval"):
        if key not in raw:
            raise _fail(keypath, f"missing `{key}`")
    unit = _choice(raw["time_unit"], ("hour", "day"), f"{keypath}.time_unit")
    interval = expect(raw["interval"], int, f"{keypath}.interval", "a whole number")
    mode = raw.get("export_mode")
    if mode is not None and mode not in EXPORT_MODES:
        raise _fail(f"{keypath}.export_mode", f"expected one of {', '.join(EXPORT_MODES)}, "
                    f"got {mode!r}")
    problem = schedule_problem(unit, interval, mode)
    if problem:
        raise _fail(keypath, problem.replace("exportMode", "export_mode"))
    start = _unix(raw.get("start_time"), f"{keypath}.start_time")
    end = _unix(raw.get("end_time"), f"{keypath}.end_time")
    if start is not None and end is not None and end <= start:
        raise _fail(f"{keypath}.end_time", "must be after start_time")
    return Schedule(unit, interval, start, end, mode)


def _unix(value: Any, keypath: str) -> int | None:
    """Unix seconds from an int, a YAML date/datetime or an ISO-8601 string (naive = UTC)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(keypath, f"expected unix seconds or an ISO date-time such as "
                        f"2026-01-31T06:00:00Z, got {value!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise _fail(keypath, f"expected unix seconds or an ISO date-time, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def _parse_wait(raw: Any, keypath: str) -> Wait:
    if raw is None:
        return Wait()
    expect(raw, dict, keypath, "a mapping of adhoc_retries, adhoc_retry_wait, run_timeout, "
           "poll_interval")
    check_keys(raw, set(Wait.__dataclass_fields__), keypath)
    for key, value in raw.items():
        expect(value, int if key == "adhoc_retries" else (int, float), f"{keypath}.{key}",
               "a number >= 0")
        if value < 0:
            raise _fail(f"{keypath}.{key}", f"expected a number >= 0, got {value}")
    return Wait(**raw)
