"""Find the release to report: the git commit of a checkout, or an installed package's version."""

from __future__ import annotations

import os

from raven.exceptions import InvalidGitRepository

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Optional, Union

__all__ = ("fetch_git_sha", "fetch_package_version")

# A symbolic ref may point at another symbolic ref; real repositories never chain this deep.
_MAX_SYMREF_DEPTH = 5


def fetch_git_sha(path: Union[str, os.PathLike[str]], head: Optional[str] = None) -> str:
    """Return the commit sha checked out in the git repository rooted at ``path``.

    Reads git's files directly, without running ``git``: ``HEAD``, then the loose ref it names,
    then ``packed-refs`` (where ``git gc`` moves refs). With ``head``, the branch
    ``refs/heads/<head>`` is read instead of ``HEAD``. A ``.git`` *file* (``gitdir: …``, as
    written for worktrees and submodules) is followed, and a worktree's branch refs are looked
    up in the main repository's directory.

    Raises:
        InvalidGitRepository: ``path`` has no git directory or HEAD, or the ref is missing; the
            message names ``path``.
    """
    git_dir = _find_git_dir(path)
    if git_dir is None:
        raise InvalidGitRepository(f"{path} does not seem to be the root of a git repository")
    common_dir = _common_dir(git_dir)

    if head:
        ref = f"refs/heads/{head}"
    else:
        head_content = _read_text(os.path.join(git_dir, "HEAD"))
        if head_content is None:
            raise InvalidGitRepository(f"Cannot identify HEAD for git repository at {path}")
        if not head_content.startswith("ref:"):
            return head_content  # detached HEAD
        ref = head_content[4:].strip()

    for _ in range(_MAX_SYMREF_DEPTH):
        value = _resolve_ref(ref, git_dir, common_dir)
        if value is None:
            break
        if not value.startswith("ref:"):
            return value
        ref = value[4:].strip()

    raise InvalidGitRepository(f'Unable to find ref to head "{ref}" in git repository at {path}')


def _find_git_dir(path: Union[str, os.PathLike[str]]) -> Optional[str]:
    dot_git = os.path.join(path, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    content = _read_text(dot_git)
    if content is None or not content.startswith("gitdir:"):
        return None
    git_dir = os.path.join(path, content[7:].strip())
    return git_dir if os.path.isdir(git_dir) else None


def _common_dir(git_dir: str) -> str:
    # A linked worktree's git dir holds its own HEAD but shares branches with the main one;
    # its "commondir" file gives that directory, usually relative ("../..").
    common = _read_text(os.path.join(git_dir, "commondir"))
    if not common:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, common))


def _resolve_ref(ref: str, git_dir: str, common_dir: str) -> Optional[str]:
    parts = ref.split("/")
    if ".." in parts:
        return None
    for directory in dict.fromkeys((git_dir, common_dir)):
        value = _read_text(os.path.join(directory, *parts))
        if value:
            return value
    for directory in dict.fromkeys((common_dir, git_dir)):
        value = _find_packed_ref(os.path.join(directory, "packed-refs"), ref)
        if value:
            return value
    return None


def _find_packed_ref(packed_refs: str, ref: str) -> Optional[str]:
    content = _read_text(packed_refs)
    if not content:
        return None
    for line in content.splitlines():
        # "# pack-refs with: ..." is a header; "^<sha>" peels the annotated tag above it.
        if not line or line[0] in "#^":
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref:
            return sha
    return None


def _read_text(file_path: str) -> Optional[str]:
    try:
        with open(file_path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def fetch_package_version(dist_name: str) -> str:
    """Return the version of the installed distribution ``dist_name``.

    Uses ``importlib.metadata``, so it works where ``pkg_resources`` is gone (6.10 raised
    NotImplementedError there).

    Raises:
        importlib.metadata.PackageNotFoundError: no distribution of that name is installed.
            It subclasses ImportError, so ``except ImportError`` catches it.
    """
    import importlib.metadata  # imported here: it costs ~15 ms at start-up

    return importlib.metadata.version(dist_name)
