"""Fault injection on the case file: kill -9, disk full, read-only, folder gone (RELIABILITY C)."""

import errno
import os
import random
import shutil
import signal
import time
import warnings

import nibabel
import pytest

from tests.io.test_case_file import assert_same_case, make_case, shifted_volumes, volumes_of
from viewer.errors import SaveError
from viewer.io.case_file import (
    LOCK,
    MANIFEST,
    CaseLock,
    load_case,
    open_case,
    read_journal,
    save_case,
    write_journal,
)

SYSCALLS = ("write", "fsync", "replace")


def _count_calls(monkeypatch, folder, case) -> dict[str, int]:
    counts = dict.fromkeys(SYSCALLS, 0)
    for name in SYSCALLS:
        real = getattr(os, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counting)
    save_case(case, folder)
    monkeypatch.undo()
    return counts


def _fail_at(monkeypatch, name: str, call: int, error: OSError) -> None:
    real = getattr(os, name)
    seen = [0]

    def failing(*args, **kwargs):
        seen[0] += 1
        if seen[0] == call:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)


def _saved_state(folder):
    """The manifest and the label and history files it names, byte for byte."""
    import json

    manifest = (folder / MANIFEST).read_bytes()
    items = json.loads(manifest)["content"]["label_maps"]
    names = [item["file"] for item in items] + [item["history"] for item in items]
    return manifest, {name: (folder / name).read_bytes() for name in names}


def _temporaries(folder):
    return [p.name for p in folder.rglob(".*")]


@pytest.fixture
def saved_twice(tmp_path):
    save_case(make_case(0), tmp_path)
    save_case(make_case(1), tmp_path)
    return tmp_path


# ---------------------------------------------------------------- C25 disk full


def test_c25_disk_full_at_every_write_fsync_and_rename(saved_twice, tmp_path_factory, monkeypatch):
    def fresh_copy():
        folder = tmp_path_factory.mktemp("case")
        shutil.copytree(saved_twice, folder, dirs_exist_ok=True)
        return folder

    counts = _count_calls(monkeypatch, fresh_copy(), make_case(2))
    assert min(counts.values()) >= 2
    before = _saved_state(saved_twice)
    outcomes = {"unchanged": 0, "new in place": 0}
    doing = set()
    for name in SYSCALLS:
        for call in range(1, counts[name] + 1):
            folder = fresh_copy()
            _fail_at(monkeypatch, name, call, OSError(errno.ENOSPC, "No space left on device"))
            with pytest.raises(SaveError, match="disk full") as error:
                save_case(make_case(2), folder)
            monkeypatch.undo()
            assert str(folder) in str(error.value), (name, call)
            assert _temporaries(folder) == [], (name, call)
            doing.add(error.value.reason.split(" failed")[0])
            if "the new version is in place" in str(error.value):
                # only the folder flush after the final rename failed: new and complete
                assert_same_case(load_case(folder), make_case(2))
                outcomes["new in place"] += 1
            else:
                assert "the previous version is unchanged" in str(error.value)
                assert _saved_state(folder) == before, (name, call)
                assert_same_case(load_case(folder), make_case(1))
                outcomes["unchanged"] += 1
            save_case(make_case(2), folder)  # space freed: the retry succeeds
            assert_same_case(load_case(folder), make_case(2))
    assert outcomes["new in place"] == 1  # the flush of the folder after the manifest rename
    # version 2 changes one label map and its undo history: both writes met the full disk
    assert doing == {
        "writing the label map of 1.2.3.2",
        "writing the undo history of 1.2.3.2",
        "writing the manifest",
    }


def test_c25_disk_full_while_carrying_refused_outlines_into_a_new_folder(
    saved_twice, tmp_path_factory, monkeypatch
):
    volumes = shifted_volumes(make_case(1))
    refused = load_case(saved_twice, volumes)
    assert set(refused.refused) == {"1.2.3.1"}
    target = tmp_path_factory.mktemp("save-as")
    carried = refused.refused_outlines["1.2.3.1"].label_file
    real_replace = os.replace

    def full_for_the_carried_file(source, destination):
        if str(destination).endswith(carried):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", full_for_the_carried_file)
    with pytest.raises(SaveError, match="keeping the refused outlines of 1.2.3.1.*disk full"):
        save_case(refused, target)
    monkeypatch.undo()
    assert not (target / MANIFEST).exists() and _temporaries(target) == []
    save_case(refused, target)
    assert_same_case(load_case(target, volumes_of(make_case(1))), make_case(1))


def test_c25_disk_full_inside_the_nifti_writer(saved_twice, monkeypatch):
    before = _saved_state(saved_twice)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nibabel, "save", full)
    with pytest.raises(SaveError, match="label map of 1.2.3.*disk full"):
        save_case(make_case(2), saved_twice)
    monkeypatch.undo()
    assert _saved_state(saved_twice) == before and _temporaries(saved_twice) == []
    save_case(make_case(2), saved_twice)
    assert_same_case(load_case(saved_twice), make_case(2))


# ---------------------------------------------------------------- C26 read-only, folder removed


def test_c26_read_only_folder_names_the_path_and_changes_nothing(saved_twice, monkeypatch):
    before = _saved_state(saved_twice)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    monkeypatch.setattr(nibabel, "save", denied)
    with pytest.raises(SaveError, match="no permission") as error:
        save_case(make_case(2), saved_twice)
    monkeypatch.undo()
    assert str(saved_twice) in str(error.value)
    assert _saved_state(saved_twice) == before


def test_c26_folder_removed_between_open_and_save(saved_twice):
    opened = open_case(saved_twice)
    shutil.rmtree(saved_twice)
    with pytest.raises(SaveError, match="no longer exists") as error:
        save_case(opened.case, saved_twice)
    assert str(saved_twice) in str(error.value)
    assert not saved_twice.exists()  # not silently re-created: the UI offers Save As
    opened.lock.release()


def test_c26_folder_removed_during_the_save(saved_twice, monkeypatch):
    real_replace = os.replace

    def vanish_then_replace(source, target):
        shutil.rmtree(saved_twice)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", vanish_then_replace)
    with pytest.raises(SaveError, match="no longer exists") as error:
        save_case(make_case(2), saved_twice)
    assert str(saved_twice) in str(error.value)


# ---------------------------------------------------------------- C23 kill -9 during save


def _run_child(body) -> int:
    # fork (not spawn) keeps 50 kills under a few seconds; the child only saves and exits.
    # Python 3.12+ warns about forking a process with threads (Qt, numba): not an error here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            body()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)  # reap it: a zombie would still look alive to the lock
    assert os.WIFSIGNALED(status), "the child stopped on its own before the kill"


def test_c23_kill_9_during_save_leaves_the_old_or_the_new_version(tmp_path):
    versions = [make_case(v) for v in range(3)]
    save_case(versions[0], tmp_path)
    rng = random.Random(23)
    seen, cleaned = set(), 0

    def save_forever():
        CaseLock.acquire(tmp_path)
        i = 0
        while True:
            i += 1
            save_case(versions[1 + i % 2], tmp_path)

    for _ in range(50):
        pid = _run_child(save_forever)
        time.sleep(rng.uniform(0.0, 0.06))
        _kill(pid)
        opened = open_case(tmp_path)  # the dead child's lock is stale: taken over
        assert not opened.lock.read_only
        cleaned += len(opened.removed_temporaries)
        assert _temporaries(tmp_path) == []
        matches = [v for v, case in enumerate(versions) if case.layout == opened.case.layout]
        assert len(matches) == 1
        assert_same_case(opened.case, versions[matches[0]])  # complete, labels included
        seen.add(matches[0])
        opened.lock.release()
    assert not (tmp_path / LOCK).exists()
    print(f"versions seen {sorted(seen)}, temporaries cleaned {cleaned}")


# ---------------------------------------------------------------- C24 kill -9 while outlining


def test_c24_kill_9_while_outlining_loses_at_most_the_last_autosave(tmp_path):
    save_case(make_case(0), tmp_path)
    rng = random.Random(24)
    for _ in range(5):
        read_end, write_end = os.pipe()

        def outline_and_autosave(write_end=write_end, read_end=read_end):
            os.close(read_end)
            for version in range(1, 10_000):
                write_journal(make_case(version), tmp_path)  # after each "tool action"
                os.write(write_end, version.to_bytes(4, "little"))

        pid = _run_child(outline_and_autosave)
        os.close(write_end)
        acknowledged = 0
        for _ in range(rng.randint(1, 6)):
            acknowledged = int.from_bytes(os.read(read_end, 4), "little")
        time.sleep(rng.uniform(0.0, 0.03))
        _kill(pid)
        while chunk := os.read(read_end, 4):
            acknowledged = int.from_bytes(chunk, "little")
        os.close(read_end)
        recovered = read_journal(tmp_path)
        assert recovered is not None
        version = recovered.layout["version"]
        assert acknowledged <= version <= acknowledged + 1
        assert_same_case(recovered, make_case(version))
        assert_same_case(load_case(tmp_path), make_case(0))  # the saved case is untouched
