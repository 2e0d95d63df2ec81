"""The six Flow Service destination types a dataset can be exported to (contract §5.1, §5.2).

Each type is one row of data: the connection spec and flow spec ids, how its base connection
authenticates (``auth.specName`` and the params, each read from a key of the ``destination:``
block of project.yml), and which target-connection params it takes. The exporter
(``destinations.flow_service``), the strict config parser (``destinations.config``) and the
emulator (``aep_emulator.flowservice``) all read this one table, so a spec id or a param name
is written exactly once.

Config keys ending in ``_env`` name an environment variable that holds a secret; the secret is
read when the export runs and never stored.

>>> DESTINATION_TYPES["amazon_s3"].flow_spec
'269ba276-16fc-47db-92b0-c1049a3c131f'
>>> by_connection_spec("10440537-2a7b-4583-ac39-ed38d4b848e8").name
'data_landing_zone'
"""

from __future__ import annotations

from dataclasses import dataclass

#: The data-lake source spec of every dataset export ("activation-datalake").
SOURCE_SPEC_ID = "23598e46-f560-407b-88d5-ea6207e49db0"
SOURCE_SPEC_NAME = "activation-datalake"
FLOWSERVICE = "/data/foundation/flowservice"
ADHOC_RUN = "/data/core/activation/disflowprovider/adhocrun"
ADHOC_ACCEPT = "application/vnd.adobe.adhoc.dataset.activation+json; version=1"
NOT_READY = "Following order ID(s) are not ready for dataset export"
#: The Data Landing Zone's destination container (contract §6).
DLZ_CONTAINER = "dlz-destination"


@dataclass(frozen=True)
class AuthSpec:
    """One way a base connection authenticates: ``auth.specName`` and ``{API param: config key}``."""

    spec_name: str
    params: dict[str, str]

    @property
    def secret_keys(self) -> list[str]:
        """The config keys naming environment variables that hold secrets."""
        return [key for key in self.params.values() if key.endswith("_env")]


@dataclass(frozen=True)
class DestinationType:
    """A Flow Service destination: ids, auth alternatives and ``{target API param: config key}``."""

    name: str
    title: str
    connection_spec: str
    flow_spec: str
    target_params: dict[str, str]
    auths: tuple[AuthSpec, ...] = ()

    @property
    def config_keys(self) -> set[str]:
        """Every key its ``destination:`` block may hold (besides ``type``)."""
        keys = set(self.target_params.values())
        for auth in self.auths:
            keys.update(auth.params.values())
        return keys

    def landing_root(self, target_params: dict[str, str], auth_params: dict[str, str]) -> str:
        """Where its files land, as ``<container or bucket>/<path>`` (used in reports and the emulator)."""
        if self.name == "data_landing_zone":
            head = DLZ_CONTAINER
        elif self.name == "sftp":
            head = auth_params.get("domain", "")
        elif self.name == "adls_gen2":
            head = auth_params.get("url", "").split("://")[-1].split("/")[0]
        else:
            head = target_params.get("bucketName") or target_params.get("container", "")
        path = target_params.get("path", target_params.get("remotePath", ""))
        return "/".join(part.strip("/") for part in (head, path) if part.strip("/"))


DESTINATION_TYPES: dict[str, DestinationType] = {
    t.name: t
    for t in (
        DestinationType(
            "amazon_s3", "Amazon S3", "4fce964d-3f37-408f-9778-e597338a21ee",
            "269ba276-16fc-47db-92b0-c1049a3c131f", {"bucketName": "bucket", "path": "path"},
            (AuthSpec("Access Key", {"s3AccessKey": "access_key_env",
                                     "s3SecretKey": "secret_key_env"}),)),
        DestinationType(
            "azure_blob", "Azure Blob Storage", "6d6b59bf-fb58-4107-9064-4d246c0e5bb2",
            "95bd8965-fc8a-4119-b9c3-944c2c2df6d2", {"container": "container", "path": "path"},
            (AuthSpec("ConnectionString", {"connectionString": "connection_string_env"}),)),
        DestinationType(
            "adls_gen2", "Azure Data Lake Gen2", "be2c3209-53bc-47e7-ab25-145db8b873e1",
            "17be2013-2549-41ce-96e7-a70363bec293", {"path": "path"},
            (AuthSpec("Azure Service Principal Auth", {
                "url": "url", "servicePrincipalId": "service_principal_id",
                "servicePrincipalKey": "service_principal_key_env", "tenant": "tenant"}),)),
        DestinationType(
            "data_landing_zone", "Data Landing Zone", "10440537-2a7b-4583-ac39-ed38d4b848e8",
            "cd2fc47e-e838-4f38-a581-8fff2f99b63a", {"path": "path"}),
        DestinationType(
            "google_cloud_storage", "Google Cloud Storage", "c5d93acb-ea8b-4b14-8f53-02138444ae99",
            "585c15c4-6cbf-4126-8f87-e26bff78b657", {"bucketName": "bucket", "path": "path"},
            (AuthSpec("Google Cloud Storage authentication credentials", {
                "accessKeyId": "access_key_env", "secretAccessKey": "secret_key_env"}),)),
        DestinationType(
            "sftp", "SFTP", "36965a81-b1c6-401b-99f8-22508f1e6a26",
            "354d6aad-4754-46e4-a576-1b384561c440", {"remotePath": "remote_path"},
            (AuthSpec("SFTP with Password", {"domain": "domain", "username": "username",
                                             "password": "password_env"}),
             AuthSpec("SFTP with SSH Key", {"domain": "domain", "username": "username",
                                            "sshKey": "ssh_key_env"}))),
    )
}


def by_connection_spec(spec_id: str) -> DestinationType | None:
    """The destination type with this connection spec id, if any."""
    return next((t for t in DESTINATION_TYPES.values() if t.connection_spec == spec_id), None)


def choose_auth(dtype: DestinationType, keys: set[str]) -> AuthSpec | None:
    """The auth alternative whose secret keys are all among ``keys`` (the first one if several)."""
    return next((a for a in dtype.auths if set(a.secret_keys) <= keys), None)


HOUR_INTERVALS = (3, 6, 9, 12)
EXPORT_MODES = ("DAILY_FULL_EXPORT", "FIRST_FULL_THEN_INCREMENTAL")


def schedule_problem(time_unit: str, interval: int, export_mode: str | None) -> str | None:
    """Why Flow Service refuses this ``scheduleParams`` combination (§5.2), or None if valid.

    >>> schedule_problem("hour", 5, None)
    'hourly exports run every 3, 6, 9 or 12 hours, got 5'
    """
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
