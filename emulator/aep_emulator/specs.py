"""The Flow Service facts the emulator enforces, written from the contract (§5, §6).

The emulator keeps its own copy of these ids and rules, taken from aep-contract.md and not
from the exporter it checks, so a wrong spec id in the exporter fails against the emulator
instead of agreeing with itself. One :class:`Destination` per dataset export destination
(§5.1 ids, §5.2 step 2 auth, step 3 target params).

>>> DESTINATIONS["Amazon S3"].flow_spec
'269ba276-16fc-47db-92b0-c1049a3c131f'
>>> destination("10440537-2a7b-4583-ac39-ed38d4b848e8").title
'Data Landing Zone'
>>> schedule_problem("hour", 5, None)
'hourly exports run every 3, 6, 9 or 12 hours, got 5'
"""

from __future__ import annotations

from dataclasses import dataclass

FLOWSERVICE = "/data/foundation/flowservice"
ADHOC_RUN = "/data/core/activation/disflowprovider/adhocrun"
ADHOC_ACCEPT = "application/vnd.adobe.adhoc.dataset.activation+json; version=1"
NOT_READY = "Following order ID(s) are not ready for dataset export"
LANDING_ZONE = "/data/foundation/connectors/landingzone"
#: §5.1: the data-lake source spec of every dataset export; aepp looks it up by this name.
SOURCE_SPEC_ID = "23598e46-f560-407b-88d5-ea6207e49db0"
SOURCE_SPEC_NAME = "activation-datalake"
#: §5.1: the Profile-store source spec of an audience activation dataflow (not datasets).
PROFILE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
#: The ``fileType`` of an audience export's target connection (``datasetFileType`` is a
#: dataset export's; the connection spec's targetSpec picks one by the flow's workflow).
AUDIENCE_FILE_TYPES = ("CSV", "JSON", "PARQUET")
#: §6: the Data Landing Zone's destination container.
DLZ_CONTAINER = "dlz-destination"
HOUR_INTERVALS = (3, 6, 9, 12)
EXPORT_MODES = ("DAILY_FULL_EXPORT", "FIRST_FULL_THEN_INCREMENTAL")


@dataclass(frozen=True)
class Auth:
    """One ``auth.specName`` of a base connection, its params and which of them are secret."""

    spec_name: str
    params: frozenset[str]
    secret: frozenset[str]


@dataclass(frozen=True)
class Destination:
    """A dataset export destination: spec ids, auth alternatives, target params."""

    title: str
    connection_spec: str
    flow_spec: str
    target_params: frozenset[str]
    auths: tuple[Auth, ...] = ()

    def landing(self, target: dict[str, str], auth: dict[str, str]) -> str:
        """Where the emulator lands its files: ``<container, bucket or host>/<path>``."""
        if self.title == "Data Landing Zone":
            head = DLZ_CONTAINER
        elif self.title == "SFTP":
            head = auth.get("domain", "")
        elif self.title == "Azure Data Lake Gen2":
            head = auth.get("url", "").split("://")[-1].split("/")[0]
        else:
            head = target.get("bucketName") or target.get("container", "")
        path = target.get("path", target.get("remotePath", ""))
        return "/".join(p.strip("/") for p in (head, path) if p.strip("/"))


def _auth(name: str, public: str, secret: str) -> Auth:
    pub, sec = frozenset(public.split()), frozenset(secret.split())
    return Auth(name, pub | sec, sec)


_BUCKET, _PATH = frozenset({"bucketName", "path"}), frozenset({"path"})
DESTINATIONS: dict[str, Destination] = {d.title: d for d in (
    Destination("Amazon S3", "4fce964d-3f37-408f-9778-e597338a21ee",
                "269ba276-16fc-47db-92b0-c1049a3c131f", _BUCKET,
                (_auth("Access Key", "", "s3AccessKey s3SecretKey"),)),
    Destination("Azure Blob Storage", "6d6b59bf-fb58-4107-9064-4d246c0e5bb2",
                "95bd8965-fc8a-4119-b9c3-944c2c2df6d2", frozenset({"container", "path"}),
                (_auth("ConnectionString", "", "connectionString"),)),
    Destination("Azure Data Lake Gen2", "be2c3209-53bc-47e7-ab25-145db8b873e1",
                "17be2013-2549-41ce-96e7-a70363bec293", _PATH,
                (_auth("Azure Service Principal Auth", "url servicePrincipalId tenant",
                       "servicePrincipalKey"),)),
    Destination("Data Landing Zone", "10440537-2a7b-4583-ac39-ed38d4b848e8",
                "cd2fc47e-e838-4f38-a581-8fff2f99b63a", _PATH),
    Destination("Google Cloud Storage", "c5d93acb-ea8b-4b14-8f53-02138444ae99",
                "585c15c4-6cbf-4126-8f87-e26bff78b657", _BUCKET,
                (_auth("Google Cloud Storage authentication credentials", "",
                       "accessKeyId secretAccessKey"),)),
    Destination("SFTP", "36965a81-b1c6-401b-99f8-22508f1e6a26",
                "354d6aad-4754-46e4-a576-1b384561c440", frozenset({"remotePath"}),
                (_auth("SFTP with Password", "domain username", "password"),
                 _auth("SFTP with SSH Key", "domain username", "sshKey"))),
)}


def destination(connection_spec: str) -> Destination | None:
    """The destination whose connection spec id this is, if any."""
    return next((d for d in DESTINATIONS.values() if d.connection_spec == connection_spec), None)


def schedule_problem(time_unit: object, interval: object, export_mode: object) -> str | None:
    """Why a dataset export ``scheduleParams`` is refused (§5.2 step 4), or None if valid."""
    if export_mode is not None and export_mode not in EXPORT_MODES:
        return f"exportMode must be one of {', '.join(EXPORT_MODES)}, got {export_mode!r}"
    if export_mode == "DAILY_FULL_EXPORT" and (time_unit, interval) != ("day", 0):
        return ("DAILY_FULL_EXPORT is a one-time full export: it needs time unit day and "
                "interval 0")
    if time_unit == "hour" and interval not in HOUR_INTERVALS:
        return f"hourly exports run every 3, 6, 9 or 12 hours, got {interval}"
    if time_unit == "day" and interval != 1 and export_mode != "DAILY_FULL_EXPORT":
        return (f"daily exports run every 1 day (0 only with exportMode DAILY_FULL_EXPORT), "
                f"got {interval}")
    if time_unit not in ("hour", "day"):
        return f"timeUnit must be hour or day, got {time_unit!r}"
    return None
