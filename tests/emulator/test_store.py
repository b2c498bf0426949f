import pytest

from emulator.store import OutdatedState, Store


def test_a_state_file_from_an_older_emulator_is_refused_unless_replaced(tmp_path):
    path = tmp_path / "old.sqlite3"
    store = Store(path)
    store.set_meta("schema_version", "0")
    store.close()
    with pytest.raises(OutdatedState, match="seed it again"):
        Store(path)
    store = Store(path, replace_outdated=True)
    try:
        assert store.get_meta("schema_version") != "0"
    finally:
        store.close()


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    try:
        with pytest.raises(RuntimeError), store.write() as conn:
            conn.execute("INSERT INTO partners VALUES (1, 'A', NULL)")
            raise RuntimeError("boom")
        with store.read() as conn:
            assert conn.execute("SELECT COUNT(*) FROM partners").fetchone()[0] == 0
    finally:
        store.close()
