"""Export a built dataset to where the user's ML environment reads it.

Two kinds of destination: ``local`` (Parquet or JSON-lines files under ``target/exports``, for
any engine) and the six Adobe Flow Service cloud destinations (Amazon S3, Azure Blob, ADLS Gen2,
Data Landing Zone, Google Cloud Storage, SFTP) for datasets built on Data Distiller. The build
calls :func:`parse_exports` when it loads project.yml and :func:`run_exports` after the models.
:class:`AudienceFlow` makes the dataflow that activates audiences to an export's destination.
"""

from destinations.audience_flow import AudienceFlow, AudienceFlowRef

from destinations.base import BuiltDataset, ExportContext, ExportResult
from destinations.config import ExportSpec, Schedule, Wait, parse_exports
from destinations.run import run_exports

__all__ = ["AudienceFlow", "AudienceFlowRef", "BuiltDataset", "ExportContext", "ExportResult", "ExportSpec", "Schedule", "Wait",
           "parse_exports", "run_exports"]
