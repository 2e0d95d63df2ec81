"""Loading a Data Distiller target's credential from an INI file or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.platform.credentials import load_credentials
from runner.errors import ProjectError
from runner.platform.client import Credentials
from runner.platform.secrets import Secret

SECRET = "p8e-S3cr3t%value"
DOCS_INI = f"""[Credential]
ims_org_id = ABC123@AdobeOrg
sandbox_name = dev
client_id = 0123abcd
client_secret = {SECRET}
scopes = openid, AdobeID, read_organizations, additional_info.projectedProductContext, session
tech_acct_id = TECH1@techacct.adobe.com
"""
ENV = {"AEP_ORG_ID": "ENV@AdobeOrg", "AEP_CLIENT_ID": "envclient", "AEP_CLIENT_SECRET": SECRET,
       "AEP_SCOPES": "openid ,AdobeID", "AEP_SANDBOX": "envbox"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.ini"
    path.write_text(text)
    return path


def test_docs_ini_credential_section(tmp_path: Path) -> None:
    path = write(tmp_path, DOCS_INI)
    creds = load_credentials({"credentials_file": str(path)}, "targets.aep", environ=ENV)
    assert creds == Credentials(
        org_id="ABC123@AdobeOrg", client_id="0123abcd", client_secret=Secret(SECRET),
        scopes="openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
        sandbox="dev", tech_account_id="TECH1@techacct.adobe.com")
    assert SECRET not in repr(creds)


def test_cmle_ini_layout_and_target_sandbox_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "[Platform]\nims_org_id = CMLE@AdobeOrg\nsandbox_name = cmle\n"
                           "environment = prod\n[Authentication]\nclient_id = cid\n"
                           f"client_secret = {SECRET}\nscopes = openid,AdobeID\n")
    creds = load_credentials({"credentials_file": str(path), "sandbox": "override"}, "targets.aep",
                             environ={})
    assert (creds.org_id, creds.client_id, creds.client_secret.reveal(), creds.scopes,
            creds.sandbox, creds.tech_account_id) == (
        "CMLE@AdobeOrg", "cid", SECRET, "openid,AdobeID", "override", None)


def test_environment_variables(tmp_path: Path) -> None:
    creds = load_credentials({}, "targets.aep", environ=ENV)
    assert creds == Credentials("ENV@AdobeOrg", "envclient", Secret(SECRET), "openid,AdobeID",
                                "envbox")
    no_sandbox = {k: v for k, v in ENV.items() if k != "AEP_SANDBOX"}
    assert load_credentials({}, "targets.aep", environ=no_sandbox).sandbox == "prod"


def test_missing_environment_variable_names_it() -> None:
    environ = {k: v for k, v in ENV.items() if k != "AEP_CLIENT_SECRET"}
    with pytest.raises(ProjectError) as info:
        load_credentials({}, "targets.aep", environ=environ)
    assert str(info.value) == (
        "project.yml: targets.aep: no Adobe credential: set the environment variable "
        "AEP_CLIENT_SECRET (or set targets.aep.credentials_file to an INI file with a "
        "[Credential] section)")


def test_missing_ini_key_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, DOCS_INI.replace("scopes =", "scopes_old ="))
    with pytest.raises(ProjectError) as info:
        load_credentials({"credentials_file": str(path)}, "targets.aep", environ=ENV)
    assert str(info.value) == (
        f"{path}: [Credential] scopes is missing or empty (set it, or remove "
        "targets.aep.credentials_file from project.yml to use the AEP_* environment variables)")


def test_ini_without_a_credential_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[Other]\nx = 1\n")
    with pytest.raises(ProjectError) as info:
        load_credentials({"credentials_file": str(path)}, "targets.aep")
    assert str(info.value) == (f"{path}: no [Credential] section (expected keys ims_org_id, "
                               "sandbox_name, client_id, client_secret, scopes, tech_acct_id)")


def test_missing_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.ini"
    with pytest.raises(ProjectError) as info:
        load_credentials({"credentials_file": str(path)}, "targets.aep")
    assert str(info.value) == (f"project.yml: targets.aep.credentials_file: no such file {path} "
                               "(write the INI file with a [Credential] section or fix the path)")


def test_malformed_ini_does_not_echo_the_secret(tmp_path: Path) -> None:
    path = write(tmp_path, f"client_secret = {SECRET}\n[Credential]\n")
    with pytest.raises(ProjectError) as info:
        load_credentials({"credentials_file": str(path)}, "targets.aep")
    assert str(info.value).startswith(f"{path}: not a valid INI file: File contains no section headers.")
    assert SECRET not in str(info.value)
