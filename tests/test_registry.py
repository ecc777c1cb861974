"""The registry: names, filters, suggestions, duplicates; and the CLI views of it (zoo list / zoo info)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import zoo
from zoo import registry
from zoo.cli import main
from zoo.registry import UnknownModelError, register_model

# Models issue 3 names; each must be registered under this name, task and source.
REQUIRED = {
    "vgg16": ("image-classification", "torchvision"),
    "resnet50": ("image-classification", "torchvision"),
    "inception_v3": ("image-classification", "torchvision"),
    "timm/vgg16": ("image-classification", "timm"),
    "timm/resnet50": ("image-classification", "timm"),
    "timm/inception_v3": ("image-classification", "timm"),
    "yolov3": ("object-detection", "ultralytics"),
    "yolov8n": ("object-detection", "ultralytics"),
    "yolo11n": ("object-detection", "ultralytics"),
    "ssd300_vgg16": ("object-detection", "torchvision"),
    "ssdlite320_mobilenet_v3_large": ("object-detection", "torchvision"),
    "fasterrcnn_resnet50_fpn": ("object-detection", "torchvision"),
    "retinanet_resnet50_fpn": ("object-detection", "torchvision"),
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_vision_models_registered(name):
    task, source = REQUIRED[name]
    assert name in zoo.list_models()
    assert (registry.model_task(name), registry.model_source(name)) == (task, source)


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownModelError) as e:
        zoo.get_spec("resnet5")
    msg = str(e.value)
    assert "unknown model 'resnet5'" in msg and "resnet50" in msg
    with pytest.raises(UnknownModelError, match="yolov8n"):
        zoo.create_model("yolov8")
    with pytest.raises(UnknownModelError, match="timm/resnet50"):  # substring fallback
        zoo.get_spec("timm/resnet")


def test_unknown_name_without_neighbours_says_so():
    with pytest.raises(UnknownModelError) as e:
        zoo.get_spec("qqqqqqqqqqqq")
    assert "did you mean" not in str(e.value) and "zoo list" in str(e.value)


def test_list_models_filters():
    every = zoo.list_models()
    assert every == sorted(every)
    r50 = ["fasterrcnn_resnet50_fpn", "resnet50", "retinanet_resnet50_fpn", "timm/resnet50"]
    assert zoo.list_models("*resnet50*") == r50
    assert zoo.list_models("resnet50") == r50  # no wildcard: substring
    assert zoo.list_models("resnet50*") == ["resnet50"] and zoo.list_models("timm/*")[0].startswith("timm/")
    assert set(zoo.list_models(source="timm")) >= {"timm/vgg16", "timm/resnet50", "timm/inception_v3"}
    assert all(registry.model_source(n) == "timm" for n in zoo.list_models(source="timm"))
    det = zoo.list_models(task="object-detection")
    assert set(det) >= {n for n, (t, _) in REQUIRED.items() if t == "object-detection"}
    assert all(registry.model_task(n) == "object-detection" for n in det)
    assert zoo.list_models("yolo*", task="object-detection", source="ultralytics") == ["yolo11n", "yolov3", "yolov8n"]
    assert zoo.list_models(task="image-classification", source="ultralytics") == []


def test_duplicate_registration_refused():
    before = dict(registry._REGISTRY)
    with pytest.raises(ValueError, match="registered twice"):
        @register_model("resnet50", task="image-classification", source="torchvision")
        def resnet50_again():  # pragma: no cover - never called
            raise AssertionError
    assert registry._REGISTRY == before  # the original entry is untouched
    assert zoo.get_spec("resnet50").architecture == "resnet50"


def test_register_rejects_unknown_task_and_source():
    with pytest.raises(ValueError, match="unknown task"):
        register_model("x-test", task="segmentation", source="torchvision")
    with pytest.raises(ValueError, match="unknown source"):
        register_model("x-test", task="image-classification", source="keras")
    assert "x-test" not in zoo.list_models()


def test_cli_list_table(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, (task, source) in REQUIRED.items():
        line = next(l for l in out.splitlines() if l.split() and l.split()[0] == name)
        assert task in line and source in line


def test_cli_list_json_filters(capsys):
    assert main(["list", "--source", "ultralytics", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    registered = [r for r in rows if ":" not in r["name"]]  # then the library's own yamls (ultralytics:...)
    assert [r["name"] for r in registered] == ["yolo11n", "yolov3", "yolov8n"]
    assert all(r["task"] == "object-detection" and r["params"] > 0 and r["flops"] > 0 for r in registered)
    assert rows[3:] and all(r["name"].startswith("ultralytics:") for r in rows[3:])


def test_cli_info_resnet50_json(capsys):
    assert main(["info", "resnet50", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    pre = d["preprocess"]
    assert (pre["resize_size"], pre["crop_size"], pre["interpolation"]) == (232, [224, 224], "bilinear")
    assert pre["mean"] == [0.485, 0.456, 0.406] and pre["std"] == [0.229, 0.224, 0.225]
    assert "transforms()" in pre["source"]
    refs = {(r["metric"], r["source"].split()[0]): r for r in d["references"]}
    assert refs[("top1", "torchvision")]["value"] == 80.858  # ResNet50_Weights.IMAGENET1K_V2 meta
    assert all(r["source"] and r["dataset"] for r in d["references"])
    assert any("He et al." in r["source"] for r in d["references"])
    assert d["params"] == 25_557_032  # equals torchvision's meta num_params
    assert 8.0e9 < d["flops"] < 8.4e9  # 2 x 4.09 GMACs (torchvision meta _ops = 4.089 GFLOPs, which counts MACs)
    assert d["weights"]["url"].endswith("resnet50-11ad3fa6.pth") and d["weights"]["sha256"] == "11ad3fa6"


def test_cli_info_text_and_unknown(capsys):
    assert main(["info", "yolov8n"]) == 0
    out = capsys.readouterr().out
    assert "ultralytics" in out and "reference box_map = 37.3" in out and "FLOPs" in out
    assert main(["info", "resnet5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean" in err and "resnet50" in err


def test_unknown_model_is_a_user_error_and_a_key_error():
    """One hierarchy: the registry's error is a UserError (the CLI prints one line; nobody converts it) and
    still a KeyError for callers that catch that."""
    from zoo.errors import UnknownModelError as FromErrors
    from zoo.errors import UserError

    assert UnknownModelError is FromErrors
    with pytest.raises(UserError, match="did you mean"):
        zoo.get_spec("resnet5")
    with pytest.raises(KeyError):
        zoo.create_model("resnet5")
    assert str(UnknownModelError("unknown model 'x'")) == "unknown model 'x'"  # not quoted as KeyError would


def test_registry_is_a_leaf():
    """zoo.registry imports no family and nothing above it; the package imports zoo.models."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(registry.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert imported <= {"errors", "spec"}, imported


def _run_fresh(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


HEAVY = ("torch", "torchvision", "timm", "transformers", "ultralytics", "tokenizers", "sklearn", "matplotlib")


def test_import_list_and_spec_do_not_import_torch():
    """Specs are data: import zoo, list every model and read every spec without torch or any model library."""
    r = _run_fresh(
        "import sys, zoo\n"
        "zoo.list_models(); zoo.get_spec('resnet50')\n"
        "assert 'torch' not in sys.modules, 'resnet50'\n"
        "for n in zoo.list_models():\n"
        "    zoo.get_spec(n)\n"
        "    bad = [m for m in %r if m in sys.modules]\n"
        "    assert not bad, f'get_spec({n!r}) imported {bad}'\n" % (HEAVY,))
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "--json"], ["info", "resnet50"],
                                  ["info", "timm/resnet50", "--json"], ["info", "resnet5"]])
def test_read_only_commands_do_not_import_torch(argv):
    r = _run_fresh(
        "import contextlib, io, sys\n"
        "from zoo.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "bad = [m for m in %r if m in sys.modules]\n"
        "assert not bad, bad\n" % (HEAVY,))
    assert r.returncode == 0, r.stderr[-3000:]


def test_help_lists_every_command_without_importing_it():
    """The one-line help of a command not being run is read from its source; it equals its parser's help."""
    from zoo.cli import build_parser, command_names

    def helps(parser):
        sub = next(a for a in parser._actions if a.dest == "command")
        return {c.dest: c.help for c in sub._choices_actions}

    full, light = helps(build_parser()), helps(build_parser(""))
    assert set(full) == set(light) == set(command_names())
    assert full == light


def test_closed_stdout_is_quiet():
    """`zoo list --json | head -c 600`: the reader closes the pipe early; no BrokenPipeError traceback.
    Here the pipe is closed before zoo has started, so its first write fails for certain."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    zoo_cmd = [sys.executable, "-m", "zoo", "list", "--json"]
    producer = subprocess.Popen(zoo_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    producer.stdout.close()
    err = producer.stderr.read().decode()
    assert producer.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_every_option_of_every_command_has_a_help_line():
    import argparse

    from zoo.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"zoo {name} {'/'.join(a.option_strings) or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not missing, missing
