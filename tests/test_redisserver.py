"""crawler.redisserver: the private redis-server a ``--workers`` crawl starts (a real one)."""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import time
from pathlib import Path

import pytest
import redis

from crawler import cluster
from crawler.redisserver import MISSING, PREFIX, STALE, RedisMissing, RedisServer
from conftest import process_gone


def test_it_answers_on_a_private_socket_keeps_nothing_and_cleans_up():
    with RedisServer() as server:
        folder, pid = server.folder, server.pid
        assert server.url == f"unix://{folder}/redis.sock"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "redis.sock").stat().st_mode) == 0o700
        client = cluster.connect(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        config = {**client.config_get("save"), **client.config_get("appendonly"), **client.config_get("port"),
                  **client.config_get("maxmemory-policy")}
        assert config == {"save": "", "appendonly": "no", "port": "0", "maxmemory-policy": "noeviction"}
        assert int(client.config_get("maxmemory")["maxmemory"]) > 0
        client.close()
    assert process_gone(pid, timeout=5)
    assert not folder.exists()


def test_a_given_folder_is_kept_and_the_server_stops_even_on_an_error(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RedisServer(tmp_path / "r") as server:
            pid = server.pid
            assert cluster.connect(server.url).ping()
            1 / 0
    assert process_gone(pid, timeout=5)
    assert (tmp_path / "r").is_dir() and not (tmp_path / "r" / "redis.sock").exists()


def test_a_kill_9_of_the_server_is_seen_by_clients_and_exit_still_cleans_up():
    with RedisServer() as server:
        client = cluster.connect(server.url)
        os.kill(server.pid, signal.SIGKILL)
        assert process_gone(server.pid, timeout=5)
        with pytest.raises(redis.exceptions.ConnectionError):
            client.ping()
    assert not server.folder.exists()


def test_missing_redis_server_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RedisMissing) as e:
        RedisServer().__enter__()
    assert str(e.value) == MISSING == ("redis-server is not installed: --workers needs it "
                                       "(Debian: apt-get install redis-server), or give --redis URL")


def test_the_session_fixture_is_a_live_server(redis_url):
    assert redis_url.startswith("unix:///") and cluster.connect(redis_url).ping()


def test_it_dies_with_its_parent_and_the_next_one_sweeps_its_folder():
    import subprocess
    import sys

    code = ("import sys\nfrom crawler.redisserver import RedisServer\n"
            "with RedisServer() as s:\n    print(s.pid, s.folder, flush=True)\n    sys.stdin.read()\n")  # (until killed)
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    try:
        pid, folder = parent.stdout.readline().split()
        os.kill(int(pid), 0)  # running
        parent.kill()
        parent.wait()
        assert process_gone(int(pid), timeout=5)
    finally:
        parent.kill()
        parent.wait()
    assert not (Path(folder) / "redis.sock").exists()   # the server removed its socket as it stopped
    assert Path(folder).is_dir()                         # ... the killed parent could not remove this
    old = time.time() - STALE - 1
    for f in (Path(folder), Path(folder) / "redis.log"):
        os.utime(f, (old, old))
    fresh = Path(tempfile.mkdtemp(prefix=PREFIX))
    with RedisServer():                                  # the next server sweeps the old one
        pass
    assert not Path(folder).exists() and fresh.is_dir()
    fresh.rmdir()
