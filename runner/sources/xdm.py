"""Where the generated tables' fields live in XDM: the class and standard field groups a
Platform schema of each is made of (``runner synth --target <data_distiller target>``).

Every top-level column of a generated table is a field of its XDM class, of one of Adobe's
standard field groups (adobe/xdm, ``components/``), or the tenant object ``_<tenant>`` (a
tenant field group the runner creates). :func:`layout` names them, and refuses a table with a
column none of them holds, so the generator cannot drift from what a real sandbox accepts.

>>> layout("profiles", ["_id", "identityMap", "_acme"], "_acme").fieldgroups
('https://ns.adobe.com/xdm/context/identitymap',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner.errors import ProjectError
from runner.platform.schemas import EVENT_CLASS, PROFILE_CLASS

IDENTITY_MAP = "https://ns.adobe.com/xdm/context/identitymap"
#: The fields each class has itself (the ExperienceEvent class builds in ``identityMap``).
CLASS_FIELDS = {EVENT_CLASS: {"_id", "timestamp", "eventType", "eventMergeId", "producedBy",
                              "identityMap"},
                PROFILE_CLASS: {"_id", "personID"}}
#: The standard field group of each top-level field, by class.
FIELD_GROUPS: dict[str, dict[str, str]] = {
    EVENT_CLASS: {
        "web": "https://ns.adobe.com/xdm/context/experienceevent-web",
        "commerce": "https://ns.adobe.com/xdm/context/experienceevent-commerce",
        "productListItems": "https://ns.adobe.com/xdm/context/experienceevent-commerce",
        "directMarketing": "https://ns.adobe.com/xdm/context/experienceevent-directmarketing",
    },
    PROFILE_CLASS: {
        "identityMap": IDENTITY_MAP,
        "person": "https://ns.adobe.com/xdm/context/profile-person-details",
        "homeAddress": "https://ns.adobe.com/xdm/context/profile-personal-details",
        "loyalty": "https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details",
        "consents": "https://ns.adobe.com/xdm/mixins/profile-consents",
        "extSourceSystemAudit":
            "https://ns.adobe.com/xdm/common/external-source-system-audit-details",
    },
}
#: The XDM class of each generated table.
CLASSES = {"experience_events": EVENT_CLASS, "profiles": PROFILE_CLASS}


@dataclass(frozen=True)
class XdmLayout:
    """A generated table as a Platform schema: its class and standard field groups (in
    column order, each once); the tenant object's column is ``_<tenant>``."""

    xdm_class: str
    fieldgroups: tuple[str, ...]


def layout(table: str, columns: Sequence[str], tenant: str) -> XdmLayout:
    """The XDM layout of the generated table ``table`` with ``columns``.

    Raises:
        ProjectError: the generator makes no such table, or a column has no XDM home.
    """
    if table not in CLASSES:
        raise ProjectError(f"synthetic table '{table}' has no XDM class here "
                           f"(known: {', '.join(CLASSES)})")
    cls = CLASSES[table]
    groups: list[str] = []
    for column in columns:
        if column in CLASS_FIELDS[cls] or column == tenant:
            continue
        group = FIELD_GROUPS[cls].get(column)
        if group is None:
            raise ProjectError(f"synthetic table '{table}': column '{column}' is no field of "
                               "its XDM class or of a standard field group the runner knows")
        if group not in groups:
            groups.append(group)
    return XdmLayout(cls, tuple(groups))
