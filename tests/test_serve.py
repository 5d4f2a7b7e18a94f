"""`bertcli serve` as clients see it: a real server process on a free port, called over HTTP with httpx."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving import running_server

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = [
    "a wonderful, moving film with a superb cast",
    "boring and dull, the worst movie ever",
    "the plot was clumsy the scenes painful and the direction dreadful " * 20,  # cut at the model's max length
    "ok",
]
KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def server(final, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    # fp32: the same numbers on every CPU kind (bf16, where 'auto' picks it, rounds differently with another batch)
    with running_server(final, "--precision", "fp32", "--flag", "negative", "--threshold", "0.5", "--max-texts", "12", "--max-text-chars", "2000",
                        "--max-body-bytes", "20000", "--max-queue", "10", tmp=tmp) as srv:
        yield srv


def _post(server, texts, **kwargs):
    return httpx.post(server.url + "/predict", json={"texts": texts}, timeout=60, **kwargs)


def test_predictions_equal_bertcli_predict(server, final, cli):
    done = cli("predict", "--model", final, "--json", "--precision", "fp32", *TEXTS)
    expected = json.loads(done.stdout)["predictions"]
    response = _post(server, TEXTS)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    for mine, theirs in zip(got, expected):
        assert mine["n_tokens"] == theirs["n_tokens"] and mine["truncated"] == theirs["truncated"]
        for name, p in theirs["probabilities"].items():
            assert mine["probabilities"][name] == pytest.approx(p, abs=2e-6)
        assert mine["flagged"] == (theirs["label"] == "negative" and theirs["confidence"] >= 0.5)
    assert got[2]["truncated"] is True
    assert server.logged("POST /predict 200") and "texts=4 batch=" in server.stderr()


def test_concurrent_clients_get_their_own_answers(server):
    alone = {text: _post(server, [text]).json()["predictions"][0] for text in TEXTS}
    jobs = [[TEXTS[i % 4], TEXTS[(i + 1) % 4]] for i in range(24)]
    with ThreadPoolExecutor(5) as pool:  # at most 10 texts waiting: within --max-queue 10, so none is turned away
        answers = list(pool.map(lambda texts: _post(server, texts), jobs))
    for texts, response in zip(jobs, answers):
        assert response.status_code == 200, response.text
        for text, pred in zip(texts, response.json()["predictions"]):
            assert pred["label"] == alone[text]["label"]
            assert pred["confidence"] == pytest.approx(alone[text]["confidence"], abs=2e-6)


BAD = [
    ("malformed JSON", b'{"texts": ["a"', 400, "not valid JSON"),
    ("not UTF-8", b'{"texts": ["\xff\xfe"]}', 400, "not UTF-8"),
    ("not an object", b'["a", "b"]', 422, '"texts"'),
    ("texts missing", b'{"text": ["a"]}', 422, '"texts"'),
    ("texts not a list", b'{"texts": "a film"}', 422, "list of strings"),
    ("a text not a string", b'{"texts": ["a", 3]}', 422, "texts[1] is int"),
    ("empty list", b'{"texts": []}', 422, "empty"),
    ("too many texts", json.dumps({"texts": ["a"] * 13}).encode(), 422, "at most 12"),
    ("text too long", json.dumps({"texts": ["a" * 2001]}).encode(), 422, "at most 2,000"),
    ("body too large", json.dumps({"texts": ["a b " * 900] * 8}).encode(), 413, "--max-body-bytes"),
]


@pytest.mark.parametrize("body,status,needle", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_clear_4xx(server, body, status, needle):
    response = httpx.post(server.url + "/predict", content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"] and needle in response.json()["error"]
    assert "Traceback" not in response.text


def test_unknown_route_and_method_are_json_4xx(server):
    assert httpx.get(server.url + "/nope").json()["error"].startswith("no route")
    assert httpx.get(server.url + "/predict").status_code == 405


def test_full_queue_is_503_with_retry_after(server):
    response = _post(server, ["a film"] * 11)  # more than --max-queue 10 at once
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "busy" in response.json()["error"]


def test_health_info_and_docs(server, final):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    info = httpx.get(server.url + "/info").json()
    assert info["labels"] == ["negative", "positive"] and info["max_length"] == 64 and "accuracy" in info["metrics"]
    assert httpx.get(server.url + "/docs").status_code == 200
    assert "/predict/stream" in httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "listening on http://127.0.0.1:" in server.stderr() and "card: accuracy" in server.stderr()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_stream_answers_each_line_before_the_next_arrives(server):
    """A raw chunked upload: the first line's answer comes back while the request is still open."""
    alone = _post(server, TEXTS[:2]).json()["predictions"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"POST /predict/stream HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(_chunk(TEXTS[0].encode() + b"\n"))
        reader = sock.makefile("rb")
        while reader.readline() not in (b"\r\n", b""):  # status line and headers
            pass
        reader.readline()  # the chunk size
        first = json.loads(reader.readline())
        assert first["index"] == 0 and first["label"] == alone[0]["label"] and first["flagged"] == alone[0]["flagged"]
        sock.sendall(_chunk(TEXTS[1].encode() + b"\n\xff\n\n") + b"0\r\n\r\n")
        rest = [json.loads(line) for line in reader.read().split(b"\r\n") if line.startswith(b"{")]
    assert [r["index"] for r in rest] == [1, 2, 3]
    assert rest[0]["label"] == alone[1]["label"]
    assert rest[1]["error"] == "not valid UTF-8" and rest[2]["error"] == "empty text"


def test_non_local_host_needs_a_key(final, cli):
    done = cli("serve", final, "--host", "0.0.0.0")
    assert done.exit_code != 0 and "--api-key" in done.stderr


def test_api_key_and_graceful_shutdown(final, tmp_path):
    """Every request needs the key; SIGTERM with requests waiting in the queue answers all of them."""
    with running_server(final, "--api-key", KEY, "--max-wait-ms", "5000", "--batch-tokens", "100000", tmp=tmp_path) as srv:
        assert httpx.get(srv.url + "/health").status_code == 401
        assert _post(srv, ["a film"], headers={"Authorization": "Bearer wrong-key-0123456789"}).status_code == 401
        assert httpx.get(srv.url + "/info", headers={"X-API-Key": KEY}).status_code == 200

        def call(i: int):
            return _post(srv, [TEXTS[i % 4]], headers={"Authorization": f"Bearer {KEY}"})

        with ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(call, i) for i in range(8)]
            deadline = time.monotonic() + 30
            while httpx.get(srv.url + "/health", headers={"X-API-Key": KEY}).json()["queued"] < 8:  # all eight wait
                assert time.monotonic() < deadline and not any(f.done() for f in pending)
                time.sleep(0.02)
            assert srv.stop() == 0
            answers = [f.result() for f in pending]
        assert [a.status_code for a in answers] == [200] * 8
        assert all(a.json()["predictions"][0]["label"] in ("negative", "positive") for a in answers)
        log = srv.stderr()
        assert "shutting down" in log and "stopped after" in log
