"""`zoo report`: every table, CSV and plot in results/ regenerated from the raw rows in results/raw.

    from zoo.report import report
    result = report("results/raw", "results")          # writes what changed, returns what it did
    result = report("results/raw", "results", check=True)  # writes nothing; result.problems lists diffs

Topic modules ``zoo/report/<topic>.py`` (see base.py) are discovered with pkgutil; the joined leaderboard
(leaderboard.py) comes first. Everything is rendered into a staging folder first, so a failing topic
module or a corrupt raw file leaves results/ untouched; then the files whose bytes changed are replaced and
files that an earlier run generated but this run does not are removed, all or nothing (commit.py): if one
target cannot be written, results/ (and the README) stay byte-identical. Which files zoo generated is
recorded in ``results/.generated``: files zoo did not generate are never removed or overwritten.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..console import progress
from ..errors import UserError
from ..results import CorruptResultsError, raw_dir, read_all
from . import leaderboard
from .commit import JOURNAL, STAGING_PREFIX, commit_files, finish_interrupted, sweep_stale_staging
from .base import GENERATED, Table, fmt, provenance
from .page import page
from .plots import normalize_png, png_title
from .readme_excerpt import updated_readme
from .render import check_slug, to_csv, to_markdown

MANIFEST = ".generated"
INDEX = "README.md"
PAGE = "index.html"  # every table and plot on one self-contained page (page.py)
PLOTS_DIR = "plots"
_NOT_TOPICS = {"base", "render", "plots", "leaderboard", "page"}

__all__ = ["GENERATED", "Table", "fmt", "provenance", "report", "topic_modules", "ReportResult"]


@dataclass
class ReportResult:
    """What a report run found or did. Paths are relative to the output folder (posix)."""

    out: Path
    generated: list[str] = field(default_factory=list)  # every file this run generates, sorted
    written: list[str] = field(default_factory=list)  # created or changed (check: would be)
    removed: list[str] = field(default_factory=list)  # stale generated files (check: would be)
    problems: list[str] = field(default_factory=list)  # check mode: one line per difference
    warnings: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # slugs
    plots: list[str] = field(default_factory=list)


def topic_modules() -> list[ModuleType]:
    """The leaderboard, then every ``zoo/report/<topic>.py`` with a ``tables`` function, by name."""
    mods = [leaderboard]
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_TOPICS:
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(mod, "tables", None)):
            mods.append(mod)
    return mods


def _topic_name(mod: ModuleType) -> str:
    return mod.__name__.rsplit(".", 1)[-1]


def _read_rows(raw: Path) -> dict[str, list[dict[str, Any]]]:
    if not raw.is_dir():
        raise UserError(f"no raw results folder at {raw}: run `zoo bench`, `zoo eval` or `zoo study` first, "
                        "or pass --raw DIR")
    try:
        return read_all(raw)
    except CorruptResultsError as e:
        raise UserError(f"corrupt raw results: {e}; fix or move that file aside (zoo report wrote nothing)") from None
    except UnicodeDecodeError as e:
        raise UserError(f"corrupt raw results under {raw}: not UTF-8 ({e.reason}); zoo report wrote nothing") from None


def _manifest(out: Path) -> tuple[list[str], str | None]:
    """Paths listed in out/.generated and the matplotlib version recorded there."""
    p = out / MANIFEST
    if not p.is_file():
        return [], None
    paths, mpl = [], None
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.startswith("# matplotlib "):
            mpl = line.split()[-1]
        elif line and not line.startswith("#"):
            if line.startswith("/") or ".." in Path(line).parts:  # never follow a manifest out of ``out``
                raise UserError(f"{p}: bad entry {line!r}; entries are paths inside {out}")
            paths.append(line)
    return paths, mpl


def _manifest_text(paths: list[str]) -> str:
    import matplotlib  # deferred: heavy

    lines = [f"# {GENERATED}", "# files written by `zoo report`; only these are ever replaced or removed by it",
             f"# matplotlib {matplotlib.__version__}"]
    return "\n".join(lines + sorted(paths)) + "\n"


def _is_generated(path: Path) -> bool:
    """Whether an existing file carries zoo's generated marker (a text first line, or a PNG Comment); a CSV,
    plain data without a marker, counts when its markdown twin does."""
    if path.suffix.lower() == ".csv":
        return path.with_suffix(".md").is_file() and _is_generated(path.with_suffix(".md"))
    try:
        if path.suffix.lower() == ".png":
            from PIL import Image  # deferred: heavy

            with Image.open(path) as im:
                return im.info.get("Comment") == GENERATED
        with open(path, encoding="utf-8", errors="replace") as f:
            return GENERATED in f.readline()
    except OSError:
        return False


def _render_tables(mod: ModuleType, rows, stage: Path, seen: dict[str, str]) -> list[Table]:
    """Write one topic module's tables to ``stage`` as .md and .csv; ``seen``: slug -> topic so far."""
    topic = _topic_name(mod)
    try:
        tables = list(mod.tables(rows))
    except Exception as e:
        raise RuntimeError(f"report topic module {mod.__name__}: tables() failed: {e}") from e
    for t in tables:
        check_slug(t.slug)
        if t.slug in seen or t.slug.lower() == INDEX.lower().removesuffix(".md"):
            raise RuntimeError(f"table slug {t.slug!r} from {topic} is already used by {seen.get(t.slug, 'the index')}")
        seen[t.slug] = topic
        (stage / f"{t.slug}.md").write_text(to_markdown(t), encoding="utf-8", newline="\n")
        (stage / f"{t.slug}.csv").write_text(to_csv(t), encoding="utf-8", newline="\n")
    return tables


def _render_plots(mod: ModuleType, rows, stage: Path, plot_owner: dict[str, str]) -> None:
    """Run one topic module's plots() into stage/plots; check what it wrote; normalize the PNGs."""
    plot_dir = stage / PLOTS_DIR
    before = {p for p in plot_dir.rglob("*")} if plot_dir.exists() else set()
    try:
        returned = list(mod.plots(rows, plot_dir) or [])
    except Exception as e:
        raise RuntimeError(f"report topic module {mod.__name__}: plots() failed: {e}") from e
    for p in returned:
        if not Path(p).resolve().is_relative_to(plot_dir.resolve()):
            raise RuntimeError(f"{mod.__name__}.plots() wrote {p} outside the folder it was given")
        if Path(p) in before:
            rel = Path(p).relative_to(stage).as_posix()
            raise RuntimeError(f"{mod.__name__}.plots() overwrote {rel}, made by {plot_owner.get(rel)}: "
                               "plot file names must be unique across topic modules")
    for p in sorted(set(plot_dir.rglob("*")) - before if plot_dir.exists() else []):
        if p.is_file():
            plot_owner[p.relative_to(stage).as_posix()] = _topic_name(mod)
            if p.suffix.lower() == ".png":  # marker in, dates and software versions out
                try:
                    p.write_bytes(normalize_png(p.read_bytes()))
                except ValueError as e:
                    raise RuntimeError(f"{mod.__name__}.plots() wrote {p.name}, which is not a PNG: {e}") from e


def _render_all(rows, stage: Path, raw: Path, out: Path, result: ReportResult, modules) -> None:
    made: list[tuple[Table, str]] = []
    seen: dict[str, str] = {}
    plot_owner: dict[str, str] = {}
    for mod in progress(modules, desc="zoo report", unit="topic"):  # plots take seconds each
        made += [(t, _topic_name(mod)) for t in _render_tables(mod, rows, stage, seen)]
        if callable(getattr(mod, "plots", None)):
            _render_plots(mod, rows, stage, plot_owner)
    result.tables = [t.slug for t, _ in made]
    result.plots = sorted(plot_owner)
    (stage / INDEX).write_text(_index(rows, made, plot_owner, stage, raw, out), encoding="utf-8", newline="\n")
    html = page(made, plot_owner, stage, rows, _raw_link(raw, out), lambda rel: png_title(stage / rel))
    (stage / PAGE).write_text(html, encoding="utf-8", newline="\n")


def _raw_link(raw: Path, out: Path) -> str:
    try:
        return Path(os.path.relpath(raw.resolve(), out.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return raw.as_posix()


def _index(rows, made, plot_owner, stage: Path, raw: Path, out: Path) -> str:
    try:
        raw_link = Path(os.path.relpath(raw.resolve(), out.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        raw_link = raw.as_posix()
    n_rows = sum(len(v) for v in rows.values())
    lines = [
        f"<!-- {GENERATED} -->",
        "# Results",
        "",
        f"Every table, CSV and plot in this folder is generated by `zoo report` from the {n_rows} raw rows in "
        f"[{raw_link}/]({raw_link}/) (append-only JSON lines written by the harnesses: `zoo bench`, `zoo eval`, "
        "`zoo train`, `zoo study`). Nothing here is typed in. Regenerate with `zoo report`; "
        "`zoo report --check` (run by CI) fails when a file differs from what the raw rows give. "
        "[index.html](index.html): every table (sortable, filterable) and plot on one page.",
        "",
        "## Tables",
        "",
    ]
    if not made:
        lines.append("_No tables yet._")
    for t, topic in made:
        n = len(t.rows)
        lines.append(f"- [{' '.join(t.title.split())}]({t.slug}.md) ([csv]({t.slug}.csv)) — {n} row"
                     f"{'s' if n != 1 else ''}; `zoo/report/{topic}.py`")
    lines += ["", "## Plots", ""]
    if not plot_owner:
        lines.append("_No plots yet._")
    for rel, topic in sorted(plot_owner.items()):
        caption = png_title(stage / rel) if rel.endswith(".png") else ""
        lines.append(f"- [{rel}]({rel}) — {' '.join(caption.split()) or Path(rel).stem}; `zoo/report/{topic}.py`")
    return "\n".join(lines + ["", "## Raw rows", ""] + _raw_section(rows, raw_link)) + "\n"


def _raw_section(rows, raw_link: str) -> list[str]:
    if not rows:
        return ["_No raw files yet._"]
    lines = ["| file | rows | kinds | models | dates (UTC) |", "|---|---:|---|---:|---|"]
    for topic, rs in sorted(rows.items()):
        kinds = ", ".join(sorted({str(r.get("kind")) for r in rs})) or "—"
        models = len({r.get("model") for r in rs if r.get("model")})
        times = sorted(str(r["time"])[:10] for r in rs if r.get("time"))
        dates = f"{times[0]} to {times[-1]}" if times else "—"
        lines.append(f"| [{topic}.jsonl]({raw_link}/{topic}.jsonl) | {len(rs)} | {kinds} | {models} | {dates} |")
    return lines + ["", "All raw rows together:", ""] + [f"- {p}" for p in provenance([r for v in rows.values() for r in v])]


def report(raw: str | os.PathLike | None = None, out: str | os.PathLike | None = None, *,
           check: bool = False, modules: list[ModuleType] | None = None,
           readme: str | os.PathLike | None = None) -> ReportResult:
    """Regenerate ``out`` (default: the parent of ``raw``) from the rows under ``raw`` (default:
    zoo.results.raw_dir()). With ``check=True`` nothing is written and ``problems`` lists every file that
    is missing, differs or is stale. ``modules``: the topic modules to render (default: topic_modules()).
    ``readme``: a README whose leaderboard excerpt block (readme_excerpt.py) is refreshed (or checked) too.
    Writing is all or nothing: when one file cannot be written, none is changed (UserError)."""
    raw = Path(raw) if raw is not None else raw_dir()
    out = Path(out) if out is not None else raw.parent
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder: zoo report writes its tables into a folder (--out DIR)")
    result = ReportResult(out=out)
    _finish_interrupted(out, check, result)
    rows = _read_rows(raw)
    old_paths, old_mpl = _manifest(out)
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        stage = Path(tmp)
        _render_all(rows, stage, raw, out, result, topic_modules() if modules is None else modules)
        result.generated = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        result.removed = sorted(p for p in set(old_paths) - set(result.generated) if (out / p).is_file())
        new_readme = updated_readme(Path(readme), rows) if readme is not None else None
        if check:
            _check(result, stage, out, old_paths, old_mpl, readme, new_readme)
            return result
        result.written = [rel for rel in result.generated if not _same(out / rel, stage / rel)]
        _write(result, stage, out, old_paths, readme, new_readme)
    return result


def _finish_interrupted(out: Path, check: bool, result: ReportResult) -> None:
    """A run killed inside its commit left a journal: complete or undo it first (--check only says so)."""
    sweep_stale_staging()
    if check:
        if (out / JOURNAL).exists():
            result.problems.append(f"{JOURNAL}: an interrupted zoo report is pending; run `zoo report`")
        return
    note = finish_interrupted(out / JOURNAL)
    if note:
        result.warnings.append(note)


def _same(dest: Path, new: Path) -> bool:
    return dest.is_file() and dest.read_bytes() == new.read_bytes()


def _check(result: ReportResult, stage: Path, out: Path, old_paths: list[str], old_mpl: str | None,
           readme, new_readme: str | None) -> None:
    """Fill ``result.written`` (would be written) and ``result.problems`` (one line per difference)."""
    import matplotlib  # deferred: heavy

    for rel in result.generated:
        dest, data = out / rel, (stage / rel).read_bytes()
        if dest.is_file() and dest.read_bytes() == data:
            continue
        result.written.append(rel)
        if not dest.exists():
            result.problems.append(f"{rel}: missing (zoo report would create it)")
        elif rel.endswith(".png") and old_mpl != matplotlib.__version__:
            result.warnings.append(f"{rel}: differs, but it was made with matplotlib {old_mpl} and this is "
                                   f"{matplotlib.__version__}: plot bytes not compared")
        else:
            result.problems.append(f"{rel}: differs from what the raw rows give{_first_difference(dest, data)}")
    result.problems += [f"{p}: stale (generated earlier, no longer made from the rows)" for p in result.removed]
    if new_readme is not None:
        result.problems.append(f"../{Path(readme).name}: the leaderboard excerpt differs from what the raw rows give")
    if not (out / MANIFEST).is_file():
        result.problems.append(f"{MANIFEST}: missing")
    elif old_paths != result.generated:
        result.problems.append(f"{MANIFEST}: lists other files than zoo report generates")


def _write(result: ReportResult, stage: Path, out: Path, old_paths: list[str], readme, new_readme: str | None) -> None:
    """Replace the changed files, the manifest and the README excerpt, remove stale files: all or nothing."""
    owned = set(old_paths)  # refuse before writing anything when a file zoo would replace was not made by zoo
    foreign = [rel for rel in result.written
               if (out / rel).exists() and rel not in owned and not _is_generated(out / rel)]
    if foreign:
        raise UserError(f"{out / foreign[0]} exists and was not generated by zoo report; move it aside "
                        f"(nothing was written){f' ({len(foreign) - 1} more)' if len(foreign) > 1 else ''}")
    writes = {out / rel: (stage / rel).read_bytes() for rel in result.written}
    manifest = _manifest_text(result.generated).encode()
    if not (out / MANIFEST).is_file() or (out / MANIFEST).read_bytes() != manifest:
        writes[out / MANIFEST] = manifest
    if new_readme is not None:
        writes[Path(readme)] = new_readme.encode("utf-8")
    commit_files(writes, [out / rel for rel in result.removed], out / JOURNAL)
    _remove_empty_dirs(out, result.removed)
    if new_readme is not None:
        result.written.append(f"../{Path(readme).name}")


def _first_difference(dest: Path, data: bytes) -> str:
    """" (first difference at line N)" for text files; "" for binary ones."""
    if dest.suffix.lower() == ".png":
        return ""
    old = dest.read_bytes().split(b"\n")
    new = data.split(b"\n")
    for i, (a, b) in enumerate(zip(old, new), start=1):
        if a != b:
            return f" (first difference at line {i})"
    return f" (first difference at line {min(len(old), len(new)) + 1})"


def _remove_empty_dirs(out: Path, removed: list[str]) -> None:
    for d in sorted({(out / r).parent for r in removed}, key=lambda p: -len(p.parts)):
        if d != out and d.is_dir() and not any(d.iterdir()):
            shutil.rmtree(d)
