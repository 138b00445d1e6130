"""`grader train`: reproduce the shipped level model from the labeled train split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grader.config import REPO_DIR, Settings


def check_hint(target: Path, art: dict[str, Any]) -> str:
    """Why a retrain can differ from the shipped file, as far as the artifacts tell; where only the
    e5 arithmetic differs (another CPU kind), also whether it is still the shipped model up to
    e5's floats (`grader.training.compare_up_to_e5`)."""
    import json

    try:
        shipped = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "the shipped file is missing or not JSON: run `grader train`"
    if shipped.get("data_hash") != art["data_hash"]:
        return "the labeled data changed since the shipped model was trained: run `grader train`"
    if shipped.get("embedding_probe") != art.get("embedding_probe"):
        from grader.training import E5_DERIVED, compare_up_to_e5

        problems, largest = compare_up_to_e5(shipped, art)
        verdict = (
            f"not the same model up to the e5 arithmetic: {'; '.join(problems[:5])}" if problems else
            "same model up to the e5 arithmetic: every part that does not read e5 vectors is identical; "
            f"the e5-derived layers ({', '.join(E5_DERIVED)}) differ by at most {largest:.1%} per row"
        )
        return (
            f"this machine's e5 engine computes other floats than the machine that trained the shipped model "
            f"(embedding probe {art.get('embedding_probe')} here, {shipped.get('embedding_probe')} there; the 4-bit "
            "engine's arithmetic differs between CPU models): bytes match only on the same kind of CPU. "
            "Retrain here with `grader train` (and commit) if this machine is where the model is kept\n" + verdict
        )
    return "same data, same e5 arithmetic: the code that computes features or fits the layers changed: run `grader train`"


def register(app: typer.Typer) -> None:
    @app.command(short_help="Train the offline level model and evidence matchers (deterministic).")
    def train(
        data: Annotated[Optional[list[Path]], typer.Argument(help="Train-split JSONL files (default evals/*.train.jsonl).")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the model JSON (default: the shipped one); the evidence matchers go beside it as STEM.evidence.json.")] = None,
        rubric: Annotated[Optional[str], typer.Option("--rubric", "-r", help="Rubric id.")] = None,
        check: Annotated[bool, typer.Option("--check", help="Don't write: exit 1 unless both results equal the shipped files byte for byte.")] = False,
    ) -> None:
        """Train the offline level model and the evidence matchers (deterministic: same data, same bytes)."""
        from grader.cli import err, out as console, progress_bar
        from grader.errors import BadInputError
        from grader.grading import get_rubric
        from grader.index import ensure_index
        from grader.model import MODELS_DIR
        from grader.training import analyse_items, dump, evidence_artifact, label_of, read_items, split_of, train as fit

        settings = Settings.from_env()
        r = get_rubric(rubric, settings)
        paths = data or sorted((REPO_DIR / "evals").glob("*.train.jsonl"))
        if not paths:
            raise BadInputError("no training data: pass train-split JSONL files")
        items = read_items(paths)
        leaked = [it.id for it in items if split_of(it) != "train"]
        if leaked:
            raise BadInputError(f"{len(leaked)} items are not in the train split by the split rule (e.g. {leaked[0]}): refusing to train on them")
        ensure_index(settings)
        labeled = [it for it in items if label_of(it) is not None]
        with progress_bar("analysing stories") as bar:
            task = bar.add_task("train", total=len(labeled))
            analysed = analyse_items(labeled, r, settings, progress=lambda d, t: bar.update(task, completed=d, total=t))
        art = fit(items, r, settings, analysed=analysed)
        evidence = evidence_artifact(labeled, analysed, r, art["indicator_ids"], art.get("embedding_probe"))
        target = out or MODELS_DIR / f"{r.id}.json"
        # the evidence matchers go beside the level model (README "Evidence sentences")
        evidence_target = target.with_name(f"{target.stem}.evidence.json")
        files = [(target, dump(art), art), (evidence_target, dump(evidence), evidence)]
        if check:
            all_same = True
            for path, text, a in files:
                same = path.is_file() and path.read_text(encoding="utf-8") == text
                all_same &= same
                n = a.get("n_train", a.get("n_stories"))
                console.print(f"{path}: {'identical' if same else 'DIFFERENT'} (data hash {a['data_hash'][:12]}, n={n})")
                if not same:
                    console.print(check_hint(path, a))
            raise typer.Exit(0 if all_same else 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        for path, text, _ in files:
            path.write_text(text, encoding="utf-8")
        err.print(f"wrote {target} (n={art['n_train']}, {len(art['indicator_ids'])} indicator detectors, data hash {art['data_hash'][:12]})")
        err.print(f"wrote {evidence_target} (evidence matchers, {evidence['n_stories']} stories with gold evidence)")

    @app.command(short_help="Split labeled stories into train/dev/test files.")
    def split(
        files: Annotated[list[Path], typer.Argument(help="Labeled eval-set files (JSON lines) to distribute.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the split files.")] = REPO_DIR / "evals",
        stem: Annotated[str, typer.Option("--stem", help="File name stem: STEM.train/dev/test.jsonl.")] = "customer-obsession",
        force: Annotated[bool, typer.Option("--force", help="Replace split files even if they hold items not in FILES.")] = False,
    ) -> None:
        """Distribute labeled stories into train/dev/test files by the fixed split rule.

        Rule: key = the item's pair id (else its id); bucket = sha256(key)[:8] mod 100;
        0-59 train, 60-79 dev, 80-99 test. Pairs never straddle splits. All input is read
        before anything is written, so the split files themselves may be passed back in; a
        split file in --out holding items that are not in FILES is not overwritten (--force does)."""
        from collections import Counter

        from grader.cli import err
        from grader.errors import BadInputError
        from grader.training import read_items, split_of, write_splits

        items = read_items(files)
        if not items:
            raise BadInputError(f"no stories in {', '.join(str(f) for f in files)}: nothing to split")
        if out.exists() and not out.is_dir():
            raise BadInputError(f"--out {out} is a file: pass a folder for the split files")
        try:
            paths = write_splits(items, out, stem, force=force)
        except OSError as exc:
            raise BadInputError(f"cannot write the split files in {out}: {exc.strerror or exc}") from None
        counts = Counter(split_of(it) for it in items)
        err.print(f"wrote {', '.join(f'{p} ({counts[s]})' for s, p in paths.items())}", markup=False, highlight=False)
