"""上传文件的后台导入: an uploaded file imported by a background job (:mod:`certify.infra.jobs`).

The web keeps the upload in the data folder under a random name (:func:`keep_upload`) and
submits a job whose parameters name it (:func:`upload_params`); the kind's handler opens it with
:func:`uploaded_file`, which names the file in every problem as its owner knows it (an upload is
saved under another name) and removes it once the job has ended, well or refused. A job whose
process stopped keeps its file, so resuming it imports the same bytes; a file nobody resumed is
removed after :data:`KEPT_FOR`."""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from certify.infra.errors import Error, InputError, Problem, ValidationFailed
from certify.infra.jobs import JobView, Progress

T = TypeVar("T")
UPLOADS = "uploads"
"""The data folder's folder of files waiting for (or being read by) their import job."""
KEPT_FOR = timedelta(days=7)
"""An upload whose job was interrupted and never resumed is removed after this long."""


class UploadGone(Error):
    """The file a job was to import is no longer kept (removed after :data:`KEPT_FOR`)."""

    code = "upload_gone"

    def __init__(self, display: str) -> None:
        super().__init__(
            f"{display}：上传的文件已不在服务器上，请重新上传 / "
            f"{display}: the uploaded file is no longer kept on the server; upload it again"
        )


def keep_upload(data_dir: Path, source: Path) -> Path:
    """Move the saved upload ``source`` into the data folder's uploads under a random name (its
    suffix kept), where an import job of any process sharing the folder finds it; files left
    longer than :data:`KEPT_FOR` are removed on the way."""
    folder = data_dir / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    oldest = time.time() - KEPT_FOR.total_seconds()
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < oldest:
                old.unlink(missing_ok=True)
        except FileNotFoundError:  # removed by another process meanwhile
            pass
    kept = folder.resolve() / f"{secrets.token_urlsafe(16)}{source.suffix.lower()}"
    shutil.move(source, kept)
    return kept


def upload_params(kept: Path, display: str, **params: Any) -> dict[str, Any]:
    """A job's parameters for importing the kept file ``kept``, known to its owner as
    ``display``, with the import's own ``params``."""
    return {"file": str(kept), "display": display, **params}


@contextmanager
def uploaded_file(job: JobView, progress: Progress) -> Iterator[Path]:
    """The file job ``job`` imports; a problem the import raises names the file as its owner
    knows it. The file is removed once the job's end is recorded (see
    :meth:`~certify.infra.jobs.Progress.when_ended`): should the process stop after the import
    committed but before that, a resumed job finds it still there. Raises UploadGone when the
    file is no longer kept."""
    path = Path(job.params["file"])
    display = str(job.params.get("display") or path.name)
    if not path.is_file():
        raise UploadGone(display)
    progress.when_ended(lambda: path.unlink(missing_ok=True))
    try:
        yield path
    except ValidationFailed as exc:
        exc.problems = [_named(p, path, display) for p in exc.problems]
        raise
    except InputError as exc:
        exc.problem = _named(exc.problem, path, display)
        exc.args = (str(exc.problem),)
        raise


def run_import(job: JobView, progress: Progress, step: str, importer: Callable[[Path], T]) -> T:
    """A one-step import job's work: ``importer`` reads the job's kept file (see
    :func:`uploaded_file`), ``step`` saying what it does meanwhile."""
    progress.start(1, step)
    with uploaded_file(job, progress) as path:
        found = importer(path)
    progress.advance(1)
    return found


def _named(problem: Problem, path: Path, display: str) -> Problem:
    """``problem`` with the kept file's path (or bare name) replaced by ``display``."""

    def named(text: str) -> str:
        return text.replace(str(path), display).replace(path.name, display)

    return dataclasses.replace(
        problem,
        file=named(problem.file),
        message_zh=named(problem.message_zh),
        message_en=named(problem.message_en),
    )
