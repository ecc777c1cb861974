"""Machine identity: rows carry the ISA flags that matter; tables name machines by CPU, cores and ISA tier;
rows recorded before the flags read "isa unknown" (never guessed from the CPU name)."""

import json

import pytest

from zoo.results import ISA_UNKNOWN, isa_label, machine_identity, machine_info, make_row
from zoo.results.provenance import cpu_details
from zoo.results.schema import RowSchemaError, validate
from zoo.results.store import decode_line, encode_row
from zoo.results.upgrade import upgrade_machine

CPUINFO_VNNI = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512dq avx512_bf16 avx512_vnni avx512_vbmi2
physical id\t: 0
core id\t\t: 0

processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512dq avx512_bf16 avx512_vnni avx512_vbmi2
physical id\t: 0
core id\t\t: 1
"""


def test_cpu_details_reads_flags_and_physical_cores():
    d = cpu_details(CPUINFO_VNNI)
    assert d == {"cpu": "AMD EPYC", "isa": ["avx2", "avx512_bf16", "avx512_vnni", "avx512f", "fma"],
                 "physical_cores": 2}


def test_cpu_details_without_flags_is_unknown_not_empty():
    d = cpu_details("model name\t: Some CPU\n")
    assert d["isa"] is None and d["physical_cores"] is None


@pytest.mark.parametrize("isa, label", [
    (None, ISA_UNKNOWN),
    ([], "no-avx2"),
    (["avx2", "fma"], "avx2"),
    (["avx2", "avx_vnni"], "avx2-vnni"),
    (["avx2", "avx512f"], "avx512"),
    (["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], "avx512-vnni-bf16"),
    (["avx512f", "amx_tile", "amx_bf16", "amx_int8"], "amx-bf16-int8"),
])
def test_isa_label(isa, label):
    assert isa_label(isa) == label


def test_identity_names_cores_threads_and_isa():
    m = {"cpu": "AMD EPYC", "cores": 2, "threads": 2, "physical_cores": 2,
         "isa": ["avx2", "avx512_bf16", "avx512_vnni", "avx512f"]}
    assert machine_identity(m) == "AMD EPYC 2c avx512-vnni-bf16"
    assert machine_identity({**m, "cores": 16, "threads": 16, "physical_cores": 8}) == \
        "AMD EPYC 8c/16t avx512-vnni-bf16"
    # an old row: cpu and logical cores only
    assert machine_identity({"cpu": "AMD EPYC", "cores": 2}) == f"AMD EPYC 2c {ISA_UNKNOWN}"


def test_this_machine_records_flags():
    m = machine_info()
    assert "isa" in m and "threads" in m and "physical_cores" in m
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    if flags is not None:
        assert m["isa"] == sorted(x for x in m["isa"] if x in flags)
        assert ("avx2" in flags) == ("avx2" in m["isa"])


def test_new_rows_carry_isa_and_old_rows_upgrade_to_unknown():
    row = make_row("frameworks", framework="torch", framework_version="2", note=None)
    assert "isa" in row["machine"]
    old = dict(row, machine={"cpu": "AMD EPYC", "cores": 2, "mem_gib": 23.5})
    line = encode_row(old)
    assert b'"isa"' not in line
    read = decode_line(line.rstrip(b"\n"))
    assert read["machine"]["isa"] is None  # unknown, not guessed
    assert upgrade_machine(read) is read  # once: an upgraded row is left as it is
    assert machine_identity(read["machine"]).endswith(ISA_UNKNOWN)


def test_schema_rejects_a_bad_isa():
    row = make_row("frameworks", framework="torch", framework_version="2", note=None)
    bad = json.loads(json.dumps(dict(row, machine={**row["machine"], "isa": "avx2"}), default=str))
    with pytest.raises(RowSchemaError, match="machine.isa"):
        validate(bad)


def test_migrate_writes_the_unknown_isa_once(tmp_path):
    from zoo.results.migrate import migrate

    row = make_row("frameworks", framework="torch", framework_version="2", note=None)
    old = dict(row, machine={"cpu": "AMD EPYC", "cores": 2})
    (tmp_path / "frameworks.jsonl").write_bytes(encode_row(old))
    assert migrate(tmp_path) == [f"{tmp_path / 'frameworks.jsonl'}: 1 rows"]
    stored = json.loads((tmp_path / "frameworks.jsonl").read_text())
    assert stored["machine"] == {"cpu": "AMD EPYC", "cores": 2, "isa": None}
    assert migrate(tmp_path) == []
