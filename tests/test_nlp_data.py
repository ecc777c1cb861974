"""Bundled NLP data: counts, the SQuAD 24/24 article split, checksums, and malformed input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from zoo.datasets import text as data
from zoo.errors import UserError


@pytest.mark.parametrize("task,split,n", [
    ("sst2", "train", 6920), ("sst2", "validation", 872), ("sst2", "test", 1821),
    ("multi30k", "train", 29000), ("multi30k", "validation", 1014), ("multi30k", "test", 1000),
    ("squad", "train", 4961), ("squad", "test", 5609),
])
def test_split_sizes(task, split, n):
    cols = data.read_split(task, split)
    assert len(next(iter(cols.values()))) == n


def test_load_split_is_a_hf_dataset():
    ds = data.load_split("sst2", "test", limit=5)
    assert ds.column_names == ["sentence", "label"] and len(ds) == 5
    assert set(data.load_split("sst2", "train")["label"]) == {0, 1}


def test_squad_split_by_article_is_disjoint_and_complete():
    train, test = data.read_split("squad", "train"), data.read_split("squad", "test")
    assert len(set(train["title"])) == 24 and len(set(test["title"])) == 24
    assert not set(train["title"]) & set(test["title"])
    assert len(set(train["id"]) | set(test["id"])) == 10570
    for ans, ctx in zip(test["answers"][:200], test["context"][:200]):
        s, t = ans["answer_start"][0], ans["text"][0]
        assert ctx[s : s + len(t)] == t


def test_bundled_checksums_match(tmp_path):
    for sub in ("sst2", "multi30k", "squad"):
        r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=data.data_dir() / sub, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert len(data.dataset_sha256("multi30k", "test")) == 64


def _copy_data(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data.data_dir(), root)
    return root


def test_malformed_sst2_line_names_file_and_line(tmp_path):
    root = _copy_data(tmp_path)
    f = root / "sst2" / "test.tsv"
    lines = f.read_text().splitlines()
    lines[3] = "a sentence with no label"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"test\.tsv:4: malformed line"):
        data.read_split("sst2", "test", root)


def test_unaligned_parallel_files(tmp_path):
    root = _copy_data(tmp_path)
    f = root / "multi30k" / "val.de"
    f.write_text("\n".join(f.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(UserError, match="not line-aligned"):
        data.read_split("multi30k", "validation", root)


def test_unknown_task_and_split():
    with pytest.raises(UserError, match="unknown NLP task 'imdb'"):
        data.read_split("imdb", "train")
    with pytest.raises(UserError, match="squad has no split 'validation'"):
        data.read_split("squad", "validation")


def test_cli_malformed_dataset_is_one_line_and_writes_nothing(tmp_path, results_dir, zoo_cache):
    root = _copy_data(tmp_path)
    f = root / "sst2" / "train.tsv"
    f.write_text(f.read_text().replace("\t1\n", "\tpositive\n", 1))
    out = tmp_path / "ckpt"
    r = subprocess.run([sys.executable, "-m", "zoo", "train", "lstm", "--task", "sst2", "--limit", "8", "--out", str(out)],
                       capture_output=True, text=True, env={**__import__("os").environ, "ZOO_DATA": str(root)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("zoo: error:") and "train.tsv:" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not (results_dir / "nlp.jsonl").exists()
