"""The audience activation dataflow to an export's destination (file-based destinations tutorial).

Audiences reach a destination through a dataflow of their own, not through a dataset export's
(a dataset export flow takes no segment selectors). :class:`AudienceFlow` makes it once per
export of project.yml, named ``runner:<project>:audiences:<model>:<export>`` (then
``@<variant>``), and finds it by name after that, checking that it still reads the Profile
store and still writes where the export says (a changed destination is an error naming the
flow to delete: it holds audiences, so it is not torn down and rebuilt as an export's is):

1. a base connection with the export's credentials (as the export's own);
2. a source connection on the Profile store: spec ``8a9c3494-…``, ``data`` ``{"format":
   "CSV", "schema": null}``, empty ``params`` (ingest contract §5);
3. a target connection with the destination's params, ``compression`` and ``fileType`` (the
   export's format): an audience export's field, where a dataset export sends
   ``datasetFileType`` (the connection spec's targetSpec chooses by the flow's workflow);
4. the flow, of the destination's flow spec (the tutorial uses the dataset export's ids), with
   ``transformations: []`` and the export's schedule; Flow Service gives it the
   ``transformations[0]`` that audiences are patched into [inferred: the tutorial's next PATCH
   is at ``/transformations/0/params/…``].

A failure half-way deletes what this call created. Audiences are then added with
``runner.platform.audiences.add_to_dataflow``. Not made: the mapping set of the UI's mapping
step (Conversion Service, outside the contract), so which profile attributes the files carry
is Platform's default.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from destinations.base import ExportContext
from destinations.config import ExportSpec
from destinations.flow_service import FlowCalls
from destinations.types import DESTINATION_TYPES, choose_auth
from runner.errors import PlatformError, RunError, RunnerError
from runner.platform.secrets import Secret, mask

#: The Profile-store source spec of an audience activation (contract §5.1).
PROFILE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"


class AudienceFlowRef(NamedTuple):
    """The audience dataflow of an export: its id, name, and whether this call made it."""

    id: str
    name: str
    created: bool


class AudienceFlow(FlowCalls):
    """The audience activation dataflow to the destination of one export."""

    file_type_param = "fileType"

    def __init__(self, spec: ExportSpec, ctx: ExportContext) -> None:
        self.spec, self.ctx = spec, ctx
        self.dtype = DESTINATION_TYPES[spec.type]
        self.auth = choose_auth(self.dtype, set(spec.params))
        self.name = ctx.flow_name(spec, audiences=True)
        self.secrets: list[Secret] = []

    def source_payload(self) -> dict[str, Any]:
        return {"name": f"{self.name}:source", "description": "the Profile store",
                "connectionSpec": {"id": PROFILE_SPEC_ID, "version": "1.0"},
                "data": {"format": "CSV", "schema": None}, "params": {}}

    def flow_description(self) -> str:
        return f"runner audiences to {self.dtype.title} ({self.spec.keypath})"

    def ensure(self) -> AudienceFlowRef:
        """The dataflow, found by name or made (base, source, target connection, flow).

        Raises:
            PlatformError: a call failed (secrets masked; what this call made is deleted).
        """
        try:
            found = self._named()
            if found is not None:
                self._check(found)
                return AudienceFlowRef(found["id"], self.name, created=False)
            record: dict[str, Any] = {}
            try:
                record["base_id"], _ = self._create("connections", self.base_payload(),
                                                    "base connection")
                record["source_id"], _ = self._create("sourceConnections",
                                                      self.source_payload(), "source connection")
                record["target_id"], _ = self._create(
                    "targetConnections", self.target_payload(record["base_id"]),
                    "target connection")
                record["flow_id"], _ = self._create(
                    "flows", self.flow_payload(record["source_id"], record["target_id"]),
                    "audience flow")
            except RunnerError:
                self.teardown(record)
                raise
            return AudienceFlowRef(record["flow_id"], self.name, created=True)
        except PlatformError as exc:
            raise PlatformError(mask(str(exc), *self.secrets), exc.status, exc.code) from None
        except RunError as exc:
            raise RunError(mask(str(exc), *self.secrets)) from None

    def _check(self, flow: dict[str, Any]) -> None:
        """RunError unless the flow found by name reads the Profile store and its target
        connection has the params this export asks for."""
        source = self._get("sourceConnections", (flow.get("sourceConnectionIds") or [""])[0])
        target = self._get("targetConnections", (flow.get("targetConnectionIds") or [""])[0])
        spec_id = ((source or {}).get("connectionSpec") or {}).get("id")
        have = (target or {}).get("params")
        if spec_id == PROFILE_SPEC_ID and have == self.target_params():
            return
        why = ("does not read the Profile store" if spec_id != PROFILE_SPEC_ID else
               f"writes with {have!r}, not {self.target_params()!r}")
        raise RunError(f"dataflow {flow['id']} named {self.name} {why}: {self.spec.keypath} "
                       "changed since it was made; delete that dataflow in Platform (its "
                       "audiences go with it) or give the export another name")
