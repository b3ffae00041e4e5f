"""Moving experiments between stores (`python -m orchlab copy-store SRC DST`): a SQLite file
into a team's PostgreSQL store, or back, with their runs' judgements and labels.

Each experiment goes through the export file's form and the importer, the one way records come
back from outside a store, so a copy holds exactly what an export and import would; each is
stored in one transaction. Ids are kept (a replay names the experiment it replayed), and an
experiment the target already holds is left alone, so running a copy again adds only what is
new. Prompt variants come along where the target has no variant of that name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchlab.core.errors import StoreError
from orchlab.store import export, importer
from orchlab.store.store import Store

__all__ = ["CopyResult", "copy_store"]


@dataclass
class CopyResult:
    """What a copy did, as the CLI states it."""

    copied: list[str] = field(default_factory=list)
    """Experiments now in the target that were not there, oldest first."""
    runs: int = 0
    """Runs those experiments hold."""
    already: list[str] = field(default_factory=list)
    """Experiments the target held already (left as they were)."""
    variants: int = 0
    """Prompt variants added to the target."""

    def sentence(self, source: str, target: str) -> str:
        """'copied 3 experiments (120 runs) from a to b; 1 was there already'."""
        text = (f"copied {len(self.copied)} experiment{'s' * (len(self.copied) != 1)} "
                f"({self.runs} runs) from {source} to {target}")
        if self.variants:
            text += f", with {self.variants} prompt variant{'s' * (self.variants != 1)}"
        if self.already:
            text += f"; {len(self.already)} {'was' if len(self.already) == 1 else 'were'} " \
                    "there already"
        return text


def copy_store(source: Store, target: Store) -> CopyResult:
    """Every experiment of `source` that `target` lacks, with its runs and the variants."""
    if source.location == target.location:
        raise StoreError(f"The source and the target are the same store ({source.shown}).")
    result = CopyResult()
    for exp in reversed(source.list_experiments()):  # oldest first
        exp_id = exp.experiment_id
        if target.taken_ids(exp_id, []):
            result.already.append(exp_id)
            continue
        text = export.to_json(source, exp_id)
        read = importer.read_file(text.encode("utf-8"), f"experiment {exp_id}")
        target.import_experiment(read.experiment, read.runs, read.judgements, read.labels,
                                 read.pairwise)
        result.copied.append(exp_id)
        result.runs += len(read.runs)
    result.variants = target.add_variants(source.variant_rows())
    return result
