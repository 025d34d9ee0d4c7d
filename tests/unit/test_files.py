"""vpkg_files: whole, owner-only writes, safe with concurrent writers in one process."""

import json
import threading

import pytest
import vpkg_files


def test_concurrent_writers_in_one_process_never_fail(tmp_path):
    # The reactor runs runner jobs in threads of one process: a tmp name from the pid alone
    # made one writer's os.replace find the file already moved.
    path = tmp_path / "view.json"
    errors = []

    def writer(n):
        try:
            for i in range(50):
                vpkg_files.write_private_json(str(path), {"writer": n, "i": i})
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(json.loads(path.read_text())) == {"writer", "i"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["view.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    vpkg_files.write_private_json(str(path), {"a": 1})
    with pytest.raises(TypeError):
        vpkg_files.write_private_json(str(path), {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
