"""Where a Data Distiller target's Adobe credential comes from.

A ``data_distiller`` target block in project.yml names its credential one of two ways:

- ``credentials_file: <path>``: the INI file a Data Distiller notebook already uses (contract
  §1.4), with a ``[Credential]`` section (``ims_org_id``, ``sandbox_name``, ``client_id``,
  ``client_secret``, ``scopes``, ``tech_acct_id``), or the CMLE layout with ``[Platform]``
  (``ims_org_id``, ``sandbox_name``) and ``[Authentication]`` (``client_id``,
  ``client_secret``, ``scopes``);
- otherwise the environment: ``AEP_ORG_ID``, ``AEP_CLIENT_ID``, ``AEP_CLIENT_SECRET``,
  ``AEP_SCOPES``, ``AEP_SANDBOX``, ``AEP_TECH_ACCOUNT_ID``.

The two are not mixed. A ``sandbox:`` key in the target block wins over both; with none the
sandbox is ``prod``. Scopes are normalised as aepp does (``"a, b"`` -> ``"a,b"``). The client
secret is wrapped in :class:`~runner.platform.secrets.Secret` at once and never appears in an error.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import ProjectError
from runner.platform.client import Credentials
from runner.platform.secrets import Secret

#: Credentials field -> (environment variable, [Credential] key, CMLE section)
FIELDS: dict[str, tuple[str, str, str]] = {
    "org_id": ("AEP_ORG_ID", "ims_org_id", "Platform"),
    "client_id": ("AEP_CLIENT_ID", "client_id", "Authentication"),
    "client_secret": ("AEP_CLIENT_SECRET", "client_secret", "Authentication"),
    "scopes": ("AEP_SCOPES", "scopes", "Authentication"),
    "sandbox": ("AEP_SANDBOX", "sandbox_name", "Platform"),
    "tech_account_id": ("AEP_TECH_ACCOUNT_ID", "tech_acct_id", "Authentication"),
}
REQUIRED = ("org_id", "client_id", "client_secret", "scopes")


def normalize_scopes(scopes: str) -> str:
    """A comma-separated scope list without spaces or empty entries.

    >>> normalize_scopes("openid, AdobeID ,read_organizations")
    'openid,AdobeID,read_organizations'
    """
    return ",".join(part.strip() for part in scopes.split(",") if part.strip())


def _from_ini(path: Path, keypath: str) -> tuple[dict[str, str], str]:
    """The credential fields in an INI file, and how to name a missing key in an error."""
    if not path.is_file():
        raise ProjectError(f"{keypath}.credentials_file: no such file {path} (write the INI file "
                           "with a [Credential] section or fix the path)", "project.yml")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ProjectError(f"not a valid INI file: {first}", path) from None
    if parser.has_section("Credential"):
        section = parser["Credential"]
        return {f: section.get(key, "").strip() for f, (_, key, _) in FIELDS.items()}, "[Credential]"
    if parser.has_section("Platform") and parser.has_section("Authentication"):
        return ({f: parser[sec].get(key, "").strip() for f, (_, key, sec) in FIELDS.items()},
                "[Platform]/[Authentication]")
    raise ProjectError("no [Credential] section (expected keys ims_org_id, sandbox_name, "
                       "client_id, client_secret, scopes, tech_acct_id)", path)


def load_credentials(config: dict[str, Any], keypath: str,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """The credential of a ``data_distiller`` target block.

    Args:
        config: the target block (``credentials_file`` already resolved against the project).
        keypath: where the block is in project.yml, e.g. ``targets.aep``.
        environ: the environment to read (``os.environ`` by default).

    Raises:
        ProjectError: naming project.yml or the INI file and the key or variable to set.
    """
    environ = os.environ if environ is None else environ
    if config.get("credentials_file"):
        path = Path(str(config["credentials_file"])).expanduser()
        values, where = _from_ini(path, keypath)

        def missing(field: str) -> ProjectError:
            _, key, section = FIELDS[field]
            section = "Credential" if where == "[Credential]" else section
            return ProjectError(f"[{section}] {key} is missing or empty (set it, or remove "
                                f"{keypath}.credentials_file from project.yml to use the "
                                "AEP_* environment variables)", path)
    else:
        values = {f: environ.get(var, "").strip() for f, (var, _, _) in FIELDS.items()}

        def missing(field: str) -> ProjectError:
            return ProjectError(f"{keypath}: no Adobe credential: set the environment variable "
                                f"{FIELDS[field][0]} (or set {keypath}.credentials_file to an "
                                "INI file with a [Credential] section)", "project.yml")

    for field in REQUIRED:
        if not values[field]:
            raise missing(field)
    scopes = normalize_scopes(values["scopes"])
    if not scopes:
        raise missing("scopes")
    sandbox = str(config.get("sandbox") or values["sandbox"] or "prod").strip()
    return Credentials(org_id=values["org_id"], client_id=values["client_id"],
                       client_secret=Secret(values["client_secret"]), scopes=scopes,
                       sandbox=sandbox, tech_account_id=values["tech_account_id"] or None)
