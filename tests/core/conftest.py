"""Fixtures for the core tests: the toy domain on sys.path, offline Hub, and a fake Hub client."""

import shutil
import sys
from fnmatch import fnmatch
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import CommitInfo, HfApi, RepoUrl

sys.path.insert(0, str(Path(__file__).parent))  # for the toy_domain helper module


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1; the constant is read at import, so patch it too: any real Hub request raises."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert huggingface_hub.is_offline_mode()


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """Replace the HfApi write calls with copies into tmp_path/hub; record the token each call saw."""
    root = tmp_path / "hub"
    seen = {"tokens": [], "calls": []}

    def create_repo(self, repo_id, **kw):
        seen["tokens"].append(self.token)
        seen["calls"].append(("create_repo", repo_id, kw))
        (root / repo_id).mkdir(parents=True, exist_ok=True)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_branch(self, repo_id, *, branch, **kw):
        seen["calls"].append(("create_branch", repo_id, branch))

    def upload_folder(self, *, repo_id, folder_path, path_in_repo=None, **kw):
        seen["tokens"].append(self.token)
        seen["calls"].append(("upload_folder", repo_id, kw))
        for source in Path(folder_path).rglob("*"):
            relative = source.relative_to(folder_path).as_posix()
            if source.is_file() and not any(fnmatch(relative, p) for p in kw.get("ignore_patterns") or []):
                target = root / repo_id / (path_in_repo or "") / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/0",
            commit_message=kw.get("commit_message") or "",
            commit_description="",
            oid="0" * 40,
        )

    for name, fn in [
        ("create_repo", create_repo),
        ("create_branch", create_branch),
        ("upload_folder", upload_folder),
    ]:
        monkeypatch.setattr(HfApi, name, fn)
    return root, seen
