"""What the ``state:`` and ``result:`` selector methods compare with: an earlier build's
artifacts (``runner.graph.selection.History``).

``state:modified`` compares the project with the manifest in ``--state DIR``, dbt's way (DIR holds
a ``manifest.json`` from an earlier build, such as a copy of its ``target/``). A model is
modified when that manifest lacks it, or when its SQL (macros and vars expanded; layout and
comments aside) or the config that changes its table differ from the manifest's record
(``meta.runner.inputs``, see ``runner.run.changes``); for a node without one (that build did not
compile it, or an older runner wrote it) its file's checksum is compared. Upstream changes are
not modifications: ``state:modified+`` adds the descendants.

``result:<status>`` picks the models with that status in the last run: ``run_results.json`` in
``--state DIR`` when given, else the target's own ``target/run_results.json`` (which must be of
a run on this target).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ProjectError
from runner.project.loader import Project
from runner.run.atomic import read_json
from runner.run.changes import Inputs, config_hash, sql_hash
from runner.run.paths import TargetPaths
from runner.run.recorded import EXTENSION

MANIFEST = "manifest.json"
RUN_RESULTS = "run_results.json"


@dataclass
class BuildHistory:
    """The earlier build a selection compares with: ``state_dir`` (``--state``) or the target's
    own last run.

    Raises:
        ProjectError: ``state_dir`` is given but holds no manifest.json.
    """

    project: Project
    target: str
    paths: TargetPaths
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.state_dir is not None and not (self.state_dir / MANIFEST).is_file():
            what = "does not exist" if not self.state_dir.exists() else f"holds no {MANIFEST}"
            raise ProjectError(f"--state {self.state_dir}: {what}; point it at the folder of an "
                               f"earlier build's artifacts (a copy of its target/)")

    def modified(self) -> set[str]:
        """The models new or changed since the manifest in ``--state``."""
        if self.state_dir is None:
            raise ProjectError("state:modified compares with an earlier build: pass --state DIR, "
                               f"a folder holding its {MANIFEST} (such as a copy of target/)")
        manifest = _read(self.state_dir / MANIFEST)
        nodes = {node.get("name"): node for node in (manifest.get("nodes") or {}).values()
                 if isinstance(node, dict) and node.get("resource_type") == "model"
                 and node.get("package_name") == self.project.config.name}
        return {name for name in self.project.models
                if _modified(self.project, name, nodes.get(name))}

    def with_status(self, status: str) -> set[str]:
        """The models whose status in the last run was ``status`` (dbt's spelling: ``no-op``)."""
        prefix = f"model.{self.project.config.name}."
        return {result["unique_id"][len(prefix):] for result in self._results()
                if result.get("status") == status
                and str(result.get("unique_id", "")).startswith(prefix)}

    def _results(self) -> list[dict[str, Any]]:
        if self.state_dir is not None:
            path = self.state_dir / RUN_RESULTS
            if not path.is_file():
                raise ProjectError(f"--state {self.state_dir}: holds no {RUN_RESULTS} for the "
                                   "result: selectors")
            return _read(path).get("results") or []
        path = self.paths.run_results
        shown = self.paths.shown(path)
        if not path.is_file():
            raise ProjectError(f"the result: selectors read the last run's {shown}, and there is "
                               "none yet: run a build first")
        last = _read(path)
        ran_on = (last.get("args") or {}).get("target")
        if ran_on != self.target:
            raise ProjectError(f"{shown} is of a run on target '{ran_on}', not '{self.target}'; "
                               f"select on that target (-t {ran_on}) or build on this one first")
        return last.get("results") or []


def _modified(project: Project, name: str, node: dict[str, Any] | None) -> bool:
    if node is None:
        return True
    model = project.models[name]
    recorded = Inputs.from_dict(((node.get("meta") or {}).get(EXTENSION) or {}).get("inputs"))
    if recorded is None:
        checksum = (node.get("checksum") or {}).get("checksum")
        return checksum != hashlib.sha256(model.text.encode()).hexdigest()
    return (recorded.sql != sql_hash(project, name)
            or recorded.config != config_hash(model))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path, {})
    except (OSError, ValueError) as err:
        raise ProjectError(f"{path}: cannot be read as JSON ({err})") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: not a dbt artifact (expected a JSON object)")
    return data
