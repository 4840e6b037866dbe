"""Writing where the user said, safely: the one rule every lab command follows. Nothing of the user's is lost.

``compare --out`` and ``--runs-dir``, ``figures --out``, ``book --out``, ``tutorials --figures``,
``assignment make OUT``, ``assignment package OUT`` and ``assignment grade --json`` write where the
user said. Before writing anything they check the place here, and stop with a one-line error (exit 2)
that names the option, the path and what was expected — having written nothing — unless:

1. **The place can be written.** The path is a folder or does not exist yet (for a file: is not a
   folder), and the nearest part of it that exists is a writable folder (:func:`check_folder`).
2. **A folder the command fills holds only its own kind of output.** ``figures``, ``compare``, ``book``,
   ``tutorials --figures`` and the run store accept a new or empty folder, or one holding nothing but
   what they write, recognised by name (:func:`check_owned`; names starting with ``.`` are not counted,
   and never deleted). Naming the wrong folder never mixes generated files into the user's, nor deletes
   them: the book, which replaces its pages, removes only those (:func:`remove_own`).
3. **A file the command writes replaces only its own earlier output** (:func:`output_file`): an
   autograder zip over an autograder zip, a grade report over a grade report.
4. **A person's work is never replaced silently.** The student copy of ``assignment make`` (a student
   fills it in) is replaced only with ``--overwrite``, and even then nothing is deleted:
   :func:`keep_previous` moves the previous copy into ``OUT/previous-<YYYYmmdd-HHMMSS>/`` and the command
   prints where. The rest of ``OUT`` is the student's folder and is not touched.

Regenerated output (figures, tables, a book, a report) is replaced in place: it is the command's own,
and running the command again gives it back.
"""
import fnmatch
import os
import shutil
import time
from pathlib import Path


def nearest_existing(path):
    """``path`` itself if it exists, else its nearest existing parent folder."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(path, option, command):
    """Rule 1: ``path`` is a folder or does not exist yet, and it (or its nearest existing parent) is writable.

    Returns ``path`` as a :class:`~pathlib.Path`. Raises ``NotADirectoryError`` or ``PermissionError``
    with a message naming ``option`` (e.g. ``"--out"``) and ``command``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{command}: {option} {path} is a file; expected a folder (new, empty, or one "
                                 f"holding {command}'s own output)")
    return _writable(path, path, option, command)


def _writable(folder, path, option, command):
    """``path`` (``folder`` or a file in it) can be written: ``folder``'s nearest existing part is a writable folder."""
    base = nearest_existing(folder)
    if not base.is_dir():
        raise NotADirectoryError(f"{command}: {option} {path} cannot be created: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        where = "" if base == Path(os.path.abspath(path)) else f" ({base}, where it would be written, is not)"
        raise PermissionError(f"{command}: {option} {path} is not writable{where}; expected a place you can "
                              f"write to")
    return path


def foreign_entries(path, owns):
    """The entries of folder ``path`` whose names match none of the patterns ``owns`` (dot-entries skipped)."""
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir()
                  if not p.name.startswith(".") and not any(fnmatch.fnmatchcase(p.name, o) for o in owns))


def check_owned(path, option, command, owns, what):
    """Rule 2: folder ``path`` is new, empty, or holds only entries matching ``owns`` (fnmatch patterns).

    ``what`` says what such a folder holds, for the message (e.g. ``"figures and tables"``).
    Raises ``FileExistsError`` naming ``option``, the folder and up to three of the other entries.
    """
    foreign = foreign_entries(path, owns)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise FileExistsError(f"{command}: {option} {path} holds files {command} does not write ({shown}); "
                              f"expected a new or empty folder, or one holding only {what}")
    return Path(path)


def output_folder(path, option, command, owns, what):
    """Rules 1 and 2: the folder a command fills with its own output; returns it as a Path (not created)."""
    check_folder(path, option, command)
    return check_owned(path, option, command, owns, what)


def remove_own(folder, owns):
    """Delete the entries of ``folder`` named in ``owns`` (a command's previous output, before it writes anew).

    Only exact names (no patterns): what is deleted is listed in the code. Everything else stays, dot-entries
    such as ``.git`` included.
    """
    for name in owns:
        old = Path(folder) / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()


def output_file(path, option, command, is_own, what):
    """A file a command writes (replacing only its own earlier output); returns it as a Path.

    ``path`` must not be a folder, its folder must be writable (rule 1), and an existing file there must
    be one the command wrote (``is_own(path) -> bool``), described by ``what`` for the message.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{command}: {option} {path} is a folder; expected the name of {what} to write")
    _writable(path.parent, path, option, command)
    if path.exists() and not is_own(path):
        raise FileExistsError(f"{command}: {option} {path} exists and is not {what}; name another file "
                              f"(nothing was written)")
    return path


def keep_previous(folder, names):
    """Move the entries ``names`` of ``folder`` that exist into a new ``folder/previous-<YYYYmmdd-HHMMSS>/``.

    Returns that folder (None if none of them existed). Nothing is deleted: this is how a command replaces a
    person's work when asked to (``--overwrite``); the kept entries keep their names, so a kept student copy
    is still a student copy (``assignment grade OUT/previous-...`` grades it).
    """
    folder = Path(folder)
    existing = [name for name in names if (folder / name).exists() or (folder / name).is_symlink()]
    if not existing:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept, n = folder / f"previous-{stamp}", 1
    while kept.exists():
        n += 1
        kept = folder / f"previous-{stamp}-{n}"
    kept.mkdir()
    for name in existing:
        os.replace(folder / name, kept / name)
    return kept
