"""Raw results: the append-only row store (store.py), the row schema (schema.py), provenance (provenance.py).

Every table, CSV and plot in results/ is derived from these rows by ``zoo report``; nothing is typed in.
``make_row`` builds a validated row with what makes a figure traceable (model, spec hash, weights, dataset
and its sha256, settings, machine, library versions, git commit, time); ``append_row`` records it.
"""

from .provenance import (
    ISA_UNKNOWN,
    device_label,
    git_commit,
    isa_label,
    library_versions,
    machine_identity,
    machine_info,
    sha256_file,
    sha256_tree,
)
from .schema import KINDS, SCHEMA_VERSION, RowSchemaError, validate
from .store import (
    DEFAULT_RAW_DIR,
    CorruptResultsError,
    append_row,
    check_appendable,
    iter_rows,
    make_row,
    raw_dir,
    raw_path,
    read_all,
    read_rows,
    results_health,
)

__all__ = [
    "DEFAULT_RAW_DIR", "ISA_UNKNOWN", "KINDS", "SCHEMA_VERSION", "CorruptResultsError", "RowSchemaError", "append_row",
    "check_appendable", "device_label", "git_commit", "isa_label", "iter_rows", "library_versions", "machine_identity",
    "machine_info", "make_row", "raw_dir", "raw_path", "read_all", "read_rows", "results_health", "sha256_file",
    "sha256_tree", "validate",
]
