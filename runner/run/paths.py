"""Where a run keeps its files: every path under ``target/`` is spelled here, once.

    target/manifest.json, target/run_results.json     the artifacts of the last run
    target/compiled/<target>/<model path>             the exact statements of each model
    target/state/<target>.json, <target>.lock         versions per target; one run at a time
    target/cache/                                     the parse and compile cache
    target/exports/...                                what the local destination writes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TargetPaths:
    """The ``target/`` files of one project and target."""

    root: Path      # the project directory
    target: str     # the target's name in project.yml

    @property
    def dir(self) -> Path:
        return self.root / "target"

    @property
    def compiled(self) -> Path:
        return self.dir / "compiled" / self.target

    @property
    def cache(self) -> Path:
        """The parse and compile cache (``runner.project.cache``), shared by the targets."""
        return self.dir / "cache"

    @property
    def state_dir(self) -> Path:
        return self.dir / "state"

    @property
    def state(self) -> Path:
        return self.state_dir / f"{self.target}.json"

    @property
    def lock(self) -> Path:
        return self.state_dir / f"{self.target}.lock"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def run_results(self) -> Path:
        return self.dir / "run_results.json"

    def shown(self, path: Path) -> Path:
        """``path`` relative to the project when it is inside it (for messages)."""
        return path.relative_to(self.root) if path.is_relative_to(self.root) else path
