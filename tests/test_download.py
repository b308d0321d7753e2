"""Tests of hdrlab.data.download against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import importlib
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hdrlab.data.download import Resource, cache_dir, download, get_resource, register, verify
from hdrlab.errors import ChoiceError, DownloadError

dl = importlib.import_module("hdrlab.data.download")

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MANUAL = "Fetch blob.bin from the dataset page and put it in the cache folder."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        state = self.server.state
        path = self.path.split("?")[0]
        state["log"].append((path, self.headers.get("Range")))
        if path not in state["files"]:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = state["files"][path]
        if path in state["corrupt"]:
            body = bytes(b ^ 0xFF for b in body)
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and path not in state["no_range"]:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        sent = body[start:]
        self.send_header("Content-Length", str(len(sent)))
        self.end_headers()
        pause = state["slow"].get(path)
        if pause is not None:  # a slow link: ten pieces with a pause before each
            step = -(-len(sent) // 10)
            for start in range(0, len(sent), step):
                time.sleep(pause)
                self.wfile.write(sent[start:start + step])
                self.wfile.flush()
            return
        cut = state["cut"].pop(path, None)
        if cut is not None:
            self.wfile.write(sent[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(sent)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = {"files": {}, "corrupt": set(), "no_range": set(), "cut": {}, "slow": {}, "log": []}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/blob.bin"


def _resource(*urls, name="blob", sha=SHA) -> Resource:
    return Resource(name, urls, sha, len(PAYLOAD), "CC0", "blob.bin", MANUAL)


def test_good_download_is_verified_and_atomic(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    path = download(_resource(server.base + "/blob.bin"), tmp_path, chunk_size=1000)
    assert path == tmp_path / "blob.bin"
    assert path.read_bytes() == PAYLOAD and verify(path, SHA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


def test_verified_file_skips_network(server, tmp_path):
    (tmp_path / "blob.bin").write_bytes(PAYLOAD)
    path = download(_resource(server.base + "/blob.bin"), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.state["log"] == []


def test_corrupt_file_replaced_by_download(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin").write_bytes(b"garbage")
    assert download(_resource(server.base + "/blob.bin"), tmp_path).read_bytes() == PAYLOAD


def test_checksum_mismatch_tries_next_url_then_fails(server, tmp_path):
    files = server.state["files"]
    files["/bad.bin"] = PAYLOAD
    files["/good.bin"] = PAYLOAD
    server.state["corrupt"].add("/bad.bin")
    res = _resource(server.base + "/bad.bin", server.base + "/good.bin")
    assert download(res, tmp_path).read_bytes() == PAYLOAD
    assert [p for p, _ in server.state["log"]] == ["/bad.bin", "/good.bin"]

    out = tmp_path / "second"
    res = _resource(server.base + "/bad.bin", server.base + "/missing.bin")
    with pytest.raises(DownloadError) as info:
        download(res, out)
    message = str(info.value)
    assert "checksum mismatch" in message and "HTTP 404" in message
    assert "'blob'" in message and MANUAL in message
    assert "/bad.bin" in message and "/missing.bin" in message
    assert list(out.iterdir()) == []  # neither a final file nor a .part


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    cut = 3000
    server.state["files"]["/blob.bin"] = PAYLOAD
    server.state["cut"]["/blob.bin"] = cut
    res = _resource(server.base + "/blob.bin")
    with pytest.raises(DownloadError, match="partial file kept"):
        download(res, tmp_path, timeout=5, chunk_size=1000)  # bytes of an unfinished chunk are lost
    part = tmp_path / "blob.bin.part"
    assert part.read_bytes() == PAYLOAD[:cut]
    assert not (tmp_path / "blob.bin").exists()

    path = download(res, tmp_path, timeout=5)
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert server.state["log"][-1] == ("/blob.bin", f"bytes={cut}-")


def test_server_without_range_restarts_from_zero(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    server.state["no_range"].add("/blob.bin")
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:500])
    path = download(_resource(server.base + "/blob.bin"), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.state["log"] == [("/blob.bin", "bytes=500-")]
    assert not (tmp_path / "blob.bin.part").exists()


@pytest.mark.parametrize(("stale", "requests"), [(b"\0" * 500, ["bytes=500-", None]), (b"\0" * len(PAYLOAD), [None])])
def test_stale_corrupt_part_is_retried_from_zero_on_one_mirror(server, tmp_path, stale, requests):
    # a .part left by an earlier call with wrong bytes: resumed (or, at full size, checked as it is), caught by the
    # checksum, then fetched once more from byte zero on the same URL; with a single mirror the download succeeds
    server.state["files"]["/blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(stale)
    assert download(_resource(server.base + "/blob.bin"), tmp_path).read_bytes() == PAYLOAD
    assert [r for _, r in server.state["log"]] == requests
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


def test_stale_part_retry_happens_once_and_is_reported(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    server.state["corrupt"].add("/blob.bin")
    (tmp_path / "blob.bin.part").write_bytes(b"\0" * 500)
    with pytest.raises(DownloadError, match="retried from byte zero: checksum mismatch"):
        download(_resource(server.base + "/blob.bin"), tmp_path)
    assert [r for _, r in server.state["log"]] == ["bytes=500-", None]
    assert list(tmp_path.iterdir()) == []


_CONCURRENT = """
import sys
from hdrlab.data.download import Resource, download
url, sha, size, folder = sys.argv[1:]
resource = Resource("blob", (url,), sha, int(size), "CC0", "blob.bin", "By hand.")
print("ready", flush=True)
sys.stdin.readline()
print(download(resource, folder, timeout=30), flush=True)
"""


def test_two_processes_downloading_one_file_end_with_one_verified_file(server, tmp_path):
    # both start together while the server sends slowly (~2 s): without a lock they would share one .part
    server.state["files"]["/blob.bin"] = PAYLOAD
    server.state["slow"]["/blob.bin"] = 0.2
    command = [sys.executable, "-c", _CONCURRENT, server.base + "/blob.bin", SHA, str(len(PAYLOAD)), str(tmp_path)]
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        assert [worker.stdout.readline().strip() for worker in workers] == ["ready", "ready"]
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
        assert out.strip().splitlines()[-1] == str(tmp_path / "blob.bin")
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]
    assert len(server.state["log"]) == 1  # the second process waited for the first and found its file
    assert sum("Waiting for another process" in out for out, _ in outputs) == 1


def test_a_folder_without_room_for_the_lock_file_is_a_download_error(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.lock").mkdir()  # the lock file cannot be opened there
    with pytest.raises(DownloadError, match="writable folder") as info:
        download(_resource(server.base + "/blob.bin"), tmp_path)
    assert MANUAL in str(info.value) and server.state["log"] == []


def test_unreachable_url_falls_through(server, tmp_path):
    server.state["files"]["/blob.bin"] = PAYLOAD
    path = download(_resource(_closed_port_url(), server.base + "/blob.bin"), tmp_path, timeout=5)
    assert path.read_bytes() == PAYLOAD


def test_all_unreachable_raises_with_manual_route(tmp_path):
    with pytest.raises(DownloadError, match="Manual route") as info:
        download(_resource(_closed_port_url()), tmp_path, timeout=5)
    assert "ConnectionError" in str(info.value)
    assert not (tmp_path / "blob.bin").exists()


def test_register_and_lookup(monkeypatch):
    monkeypatch.setattr(dl, "REGISTRY", {})
    res = register(_resource("http://127.0.0.1:1/blob.bin"))
    assert get_resource("blob") is res
    with pytest.raises(ChoiceError, match="already registered"):
        register(_resource("http://127.0.0.1:1/other.bin"))
    with pytest.raises(ChoiceError, match="blob"):
        get_resource("nope")


def test_registry_is_empty_and_resource_validated():
    assert dl.REGISTRY == {}
    with pytest.raises(ChoiceError):
        _resource("http://127.0.0.1:1/x", sha="abc")
    with pytest.raises(ChoiceError):
        _resource()
    assert Resource("x", ["http://127.0.0.1:1/x"], SHA, 1, "CC0", "x", MANUAL).urls == ("http://127.0.0.1:1/x",)


def test_cache_env_honoured(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HDRLAB_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.setattr(dl, "REGISTRY", {})
    server.state["files"]["/blob.bin"] = PAYLOAD
    register(_resource(server.base + "/blob.bin"))
    assert download("blob") == tmp_path / "cache" / "blob.bin"
    monkeypatch.delenv("HDRLAB_CACHE")
    assert cache_dir().parts[-2:] == (".cache", "hdrlab")
