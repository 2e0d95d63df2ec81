"""The request bodies of a Flow Service export (contract §5.2): base, source and target
connections and the flow, built from the export's spec and its dataset.

Credentials are read from the environment only while a body is built, and every secret read is
kept in ``secrets`` so the caller masks it in anything it reports.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from destinations.base import BuiltDataset, ExportContext
from destinations.config import ExportSpec
from destinations.types import SOURCE_SPEC_ID, AuthSpec, DestinationType
from runner.errors import RunError
from runner.platform.secrets import Secret

YEAR = 365 * 86400


class FlowPayloads:
    """The bodies one export sends; ``FlowExport`` sends them."""

    spec: ExportSpec
    dataset: BuiltDataset
    ctx: ExportContext
    dtype: DestinationType
    auth: AuthSpec | None
    name: str
    secrets: list[Secret]

    #: The target connection's file format param: a dataset export's (``fileType`` for audiences).
    file_type_param = "datasetFileType"

    def target_params(self) -> dict[str, str]:
        params = {"mode": "Server-to-server", self.file_type_param: self.spec.format.upper(),
                  "compression": self.spec.compression.upper()}
        params.update({api: self.spec.params[key] for api, key in self.dtype.target_params.items()})
        return params

    def _auth_values(self) -> dict[str, str]:
        """The base connection's auth params, secrets read from the environment now."""
        values: dict[str, str] = {}
        for api, key in (self.auth.params.items() if self.auth else ()):
            value = self.spec.params[key]
            if key.endswith("_env"):
                if not os.environ.get(value):
                    raise RunError(f"{self.spec.keypath}.destination.{key}: environment variable "
                                   f"{value} is not set; export it before running")
                secret = os.environ[value]
                if api == "sshKey" and secret.lstrip().startswith("-----BEGIN"):
                    secret = base64.b64encode(secret.encode()).decode()
                self.secrets.append(Secret(secret))
                value = secret
            values[api] = value
        return values

    def base_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": f"{self.name}:base",
                                "connectionSpec": {"id": self.dtype.connection_spec,
                                                   "version": "1.0"}}
        if self.auth:
            body["auth"] = {"specName": self.auth.spec_name, "params": self._auth_values()}
        return body

    def source_payload(self) -> dict[str, Any]:
        return {"name": f"{self.name}:source",
                "description": f"dataset {self.dataset.dataset_id} ({self.dataset.relation})",
                "connectionSpec": {"id": SOURCE_SPEC_ID, "version": "1.0"},
                "params": {"datasets": [{"dataSetId": self.dataset.dataset_id,
                                         "name": self.spec.model}]}}

    def target_payload(self, base_id: str) -> dict[str, Any]:
        return {"name": f"{self.name}:target", "baseConnectionId": base_id,
                "connectionSpec": {"id": self.dtype.connection_spec, "version": "1.0"},
                "params": self.target_params()}

    def schedule_params(self) -> dict[str, Any]:
        """Ad hoc: a daily schedule starting a year ahead, as aepp does; else the declared one."""
        now = int(self.ctx.clock())
        sched = self.spec.schedule
        if sched is None:
            return {"startTime": now + YEAR, "timeUnit": "day", "interval": 1}
        params: dict[str, Any] = {"startTime": sched.start_time or now,
                                  "timeUnit": sched.time_unit, "interval": sched.interval}
        if sched.end_time:
            params["endTime"] = sched.end_time
        if sched.export_mode:
            params["exportMode"] = sched.export_mode
        return params

    def flow_description(self) -> str:
        return f"runner export of model {self.spec.model} to {self.dtype.title}"

    def flow_payload(self, source_id: str, target_id: str) -> dict[str, Any]:
        return {"name": self.name, "description": self.flow_description(),
                "flowSpec": {"id": self.dtype.flow_spec, "version": "1.0"},
                "sourceConnectionIds": [source_id], "targetConnectionIds": [target_id],
                "transformations": [], "scheduleParams": self.schedule_params()}
