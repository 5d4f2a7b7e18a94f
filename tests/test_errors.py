"""One error boundary: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from refusals import error_line


def test_hub_unreachable_names_the_local_flags(cli, tmp_path, reviews_csv):
    # a hub name the user typed is never replaced by the offline stand-in
    result = cli("train", "--model", "bert-base-uncased", "--dataset", reviews_csv, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 1
    line = error_line(result)
    assert "bert-base-uncased" in line and "--model PATH" in line and "--dataset PATH" in line


def test_hub_dataset_unreachable(cli, tmp_path, tiny_model, monkeypatch):
    import datasets.config

    # a cache of its own: an earlier test that loaded a local folder named imdb leaves an offline 'imdb' behind
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    result = cli("train", "--model", tiny_model, "--dataset", "imdb", "-o", tmp_path / "o", "-q")
    assert result.exit_code == 1
    line = error_line(result)
    assert "'imdb'" in line and "--dataset PATH" in line
    # the fix names what works offline: the bundled sample and a local copy's layout
    assert "--dataset imdb-sample" in line and "../shared/data/imdb" in line


def test_a_dataset_folder_without_data_files_says_so(cli, tmp_path, tiny_model):
    empty = tmp_path / "empty"
    (empty / ".cache").mkdir(parents=True)
    (empty / "notes.txt").write_text("nothing here is data")
    line = error_line(cli("train", "--model", tiny_model, "--dataset", empty, "-o", tmp_path / "o", "-q"))
    assert f"'{empty}' holds no data files" in line and "resolve pattern" not in line


def test_hub_probe_fails_fast_without_offline_env(tmp_path, reviews_csv, monkeypatch):
    """Without HF_HUB_OFFLINE, a machine with no working hub gets the same line after one probe, not a minute
    of retries: the hub endpoint is a local socket that counts the connections and drops each one, so the
    check counts attempts instead of timing a loaded machine."""
    import socket
    import threading

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var)
    server = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def drop_every_connection() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed at the end of the test
                return
            connections.append(1)
            conn.close()

    threading.Thread(target=drop_every_connection, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        done = subprocess.run([sys.executable, "-m", "bertcli", "train", "--model", "bert-base-uncased", "--dataset",
                               str(reviews_csv), "-o", str(tmp_path / "o"), "-q"], capture_output=True, text=True,
                              timeout=600)
    finally:
        server.close()
    assert done.returncode == 1
    assert "cannot be reached" in done.stderr and "--model PATH" in done.stderr
    assert len(connections) == 1  # one probe; then the libraries read their caches only


@pytest.mark.parametrize(
    "args, exit_code, needle",
    [
        (["--truncation", "middle"], 2, "--truncation takes one of head, tail, head+tail"),
        (["--max-length", "4096"], 2, "longer than the model's 128 positions"),
        (["--keep-checkpoints", "0"], 2, "--keep-checkpoints must be a whole number in [1, 1000]"),
        (["--train-size", "many"], 2, "--train-size takes a number"),
        (["--resume", "--overwrite"], 2, "contradict"),
        (["--precision", "fp8"], 2, "--precision takes one of"),
        (["--text-column", "body"], 1, "--text-column"),
    ],
)
def test_bad_options_one_line(cli, tiny_model, reviews_csv, tmp_path, args, exit_code, needle):
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", tmp_path / "o", "-q", *args)
    assert result.exit_code == exit_code
    assert needle in error_line(result)


def test_missing_model_folder(cli, reviews_csv, tmp_path):
    result = cli("train", "--model", tmp_path / "no-model", "--dataset", reviews_csv, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 1
    assert "does not exist" in error_line(result)


def test_model_folder_without_safetensors_is_not_unpickled(cli, tiny_model, reviews_csv, tmp_path):
    import shutil

    bad = tmp_path / "pickled"
    shutil.copytree(tiny_model, bad)
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_bytes(b"not a pickle you want to load")
    result = cli("train", "--model", bad, "--dataset", reviews_csv, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 1
    assert "safetensors" in error_line(result)


def test_debug_env_shows_traceback(tiny_model, reviews_csv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "bertcli", "train", "--model", str(tiny_model), "--dataset",
                           str(reviews_csv), "--text-column", "body", "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, env={**__import__("os").environ, "BERTCLI_DEBUG": "1"})
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_python_dash_m_and_version():
    done = subprocess.run([sys.executable, "-m", "bertcli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("bertcli ")


def test_a_missing_local_path_that_reads_like_a_hub_name_says_both(cli, tmp_path, monkeypatch):
    """`-m mymodels/final` with no such folder: the error names the missing folder, not only the unreachable hub."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("predict", "-m", "mymodels/final", "a fine film")
    assert result.exit_code != 0
    line = [l for l in result.stderr.splitlines() if l.startswith("error:")][0]
    assert "no folder 'mymodels/final' here (nor 'mymodels')" in line and "check the path" in line
