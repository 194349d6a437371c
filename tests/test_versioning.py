"""raven.versioning: the release string from a git checkout or an installed distribution."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from pathlib import Path

import pytest

from raven.exceptions import InvalidGitRepository
from raven.versioning import fetch_git_sha, fetch_package_version

SHA_MAIN = "a" * 40
SHA_DEV = "b" * 40
SHA_PACKED = "c" * 40


def make_git_dir(root: Path, head: str) -> Path:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head + "\n")
    return git


def test_detached_head_returns_its_sha(tmp_path: Path) -> None:
    make_git_dir(tmp_path, SHA_MAIN)
    assert fetch_git_sha(str(tmp_path)) == SHA_MAIN
    assert fetch_git_sha(tmp_path) == SHA_MAIN  # a pathlib.Path works too


def test_symbolic_head_is_resolved_through_the_loose_ref(tmp_path: Path) -> None:
    git = make_git_dir(tmp_path, "ref: refs/heads/main")
    (git / "refs" / "heads" / "main").write_text(SHA_MAIN + "\n")
    assert fetch_git_sha(str(tmp_path)) == SHA_MAIN


def test_branch_names_with_slashes(tmp_path: Path) -> None:
    git = make_git_dir(tmp_path, "ref: refs/heads/feature/x")
    (git / "refs" / "heads" / "feature").mkdir()
    (git / "refs" / "heads" / "feature" / "x").write_text(SHA_DEV)
    assert fetch_git_sha(str(tmp_path)) == SHA_DEV


def test_ref_packed_by_git_gc_is_found_in_packed_refs(tmp_path: Path) -> None:
    git = make_git_dir(tmp_path, "ref: refs/heads/main")
    (git / "packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted\n"
        f"{SHA_DEV} refs/heads/dev\n"
        f"{SHA_PACKED} refs/heads/main\n"
        f"{SHA_MAIN} refs/tags/v1\n"
        f"^{SHA_DEV}\n"
    )
    assert fetch_git_sha(str(tmp_path)) == SHA_PACKED


def test_head_argument_reads_that_branch(tmp_path: Path) -> None:
    git = make_git_dir(tmp_path, "ref: refs/heads/main")
    (git / "refs" / "heads" / "main").write_text(SHA_MAIN)
    (git / "refs" / "heads" / "dev").write_text(SHA_DEV)
    assert fetch_git_sha(str(tmp_path), head="dev") == SHA_DEV


def test_no_git_directory_raises_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidGitRepository, match=str(tmp_path)):
        fetch_git_sha(str(tmp_path))
    with pytest.raises(InvalidGitRepository, match=str(tmp_path)):
        fetch_git_sha(str(tmp_path), head="main")


def test_git_directory_without_head_raises(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    with pytest.raises(InvalidGitRepository, match="Cannot identify HEAD"):
        fetch_git_sha(str(tmp_path))


def test_missing_ref_raises_naming_the_ref_and_path(tmp_path: Path) -> None:
    make_git_dir(tmp_path, "ref: refs/heads/main")
    with pytest.raises(InvalidGitRepository, match="refs/heads/main") as info:
        fetch_git_sha(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    with pytest.raises(InvalidGitRepository, match="refs/heads/nope"):
        fetch_git_sha(str(tmp_path), head="nope")


def test_a_dot_git_file_points_at_the_real_git_dir(tmp_path: Path) -> None:
    # Submodules are checked out with ".git" as a file: "gitdir: ../.git/modules/sub".
    real = tmp_path / "modules" / "sub"
    (real / "refs" / "heads").mkdir(parents=True)
    (real / "HEAD").write_text("ref: refs/heads/main\n")
    (real / "refs" / "heads" / "main").write_text(SHA_MAIN)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").write_text("gitdir: ../modules/sub\n")
    assert fetch_git_sha(str(checkout)) == SHA_MAIN


def test_a_dot_git_file_pointing_nowhere_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: /does/not/exist\n")
    with pytest.raises(InvalidGitRepository):
        fetch_git_sha(str(tmp_path))


def test_a_symbolic_ref_is_followed(tmp_path: Path) -> None:
    git = make_git_dir(tmp_path, "ref: refs/remotes/origin/HEAD")
    (git / "refs" / "remotes" / "origin").mkdir(parents=True)
    (git / "refs" / "remotes" / "origin" / "HEAD").write_text("ref: refs/remotes/origin/main")
    (git / "refs" / "remotes" / "origin" / "main").write_text(SHA_MAIN)
    assert fetch_git_sha(str(tmp_path)) == SHA_MAIN


def test_a_ref_escaping_the_git_dir_is_not_followed(tmp_path: Path) -> None:
    make_git_dir(tmp_path, "ref: ../../outside")
    (tmp_path / "outside").write_text(SHA_MAIN)
    with pytest.raises(InvalidGitRepository):
        fetch_git_sha(str(tmp_path))


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


@needs_git
def test_matches_git_rev_parse_in_a_real_repository_before_and_after_gc(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    assert fetch_git_sha(str(tmp_path)) == git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "pack-refs", "--all")
    assert not (tmp_path / ".git" / "refs" / "heads" / "main").exists()
    assert fetch_git_sha(str(tmp_path)) == git(tmp_path, "rev-parse", "HEAD")


@needs_git
def test_matches_git_rev_parse_in_a_linked_worktree(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    git(main, "commit", "-q", "--allow-empty", "-m", "one")
    git(main, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    git(tmp_path / "wt", "commit", "-q", "--allow-empty", "-m", "two")
    git(main, "pack-refs", "--all")

    worktree_sha = git(tmp_path / "wt", "rev-parse", "HEAD")
    assert fetch_git_sha(str(tmp_path / "wt")) == worktree_sha
    assert fetch_git_sha(str(main)) == git(main, "rev-parse", "HEAD") != worktree_sha
    assert fetch_git_sha(str(main), head="side") == worktree_sha


def test_fetch_package_version_reads_installed_metadata() -> None:
    assert fetch_package_version("pytest") == pytest.__version__


def test_fetch_package_version_raises_package_not_found() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        fetch_package_version("raven-no-such-distribution")
    # It is an ImportError, so code written for "any failure" can catch that.
    assert issubclass(importlib.metadata.PackageNotFoundError, ImportError)
