"""The defaults a user leaves alone: the hub when it answers, a cache, else the packaged model and the bundled sample."""

from __future__ import annotations

import http.server
import threading

import pytest

from bertcli.core import defaults, hub


@pytest.fixture
def hub_state(monkeypatch):
    """Control the hub probe and the caches; returns a dict the test fills in."""
    state = {"online": False, "model_cached": False, "imdb_cached": False}
    monkeypatch.setattr(defaults, "model_is_cached", lambda name: state["model_cached"])
    monkeypatch.setattr(defaults, "imdb_is_cached", lambda: state["imdb_cached"])
    monkeypatch.setattr(hub, "prepare_hub_access", lambda: state["online"])
    return state


def test_hub_reachable_keeps_the_hub_defaults(hub_state):
    hub_state["online"] = True
    chosen = defaults.resolve_sources(None, None)
    assert (chosen.model, chosen.dataset, chosen.note) == ("bert-base-uncased", "imdb", None)


def test_offline_and_uncached_uses_the_packaged_model_and_the_sample(hub_state, minilm):
    chosen = defaults.resolve_sources(None, None)
    assert chosen.model == str(minilm)
    assert chosen.dataset == "imdb-sample"
    assert "all-MiniLM-L6-v2" in chosen.note and "--model PATH" in chosen.note


def test_cached_defaults_are_used_offline(hub_state):
    hub_state.update(model_cached=True, imdb_cached=True)
    chosen = defaults.resolve_sources(None, None)
    assert (chosen.model, chosen.dataset, chosen.note) == ("bert-base-uncased", "imdb", None)


def test_a_typed_value_is_never_replaced(hub_state, minilm):
    chosen = defaults.resolve_sources("bert-base-uncased", None)
    assert chosen.model == "bert-base-uncased" and chosen.dataset == "imdb-sample"
    chosen = defaults.resolve_sources(None, "imdb")
    assert chosen.model == str(minilm) and chosen.dataset == "imdb"
    assert "IMDb sample" not in chosen.note


def test_commands_without_a_model_only_replace_the_dataset(hub_state):
    chosen = defaults.resolve_sources(None, None, uses_model=False)
    assert chosen.dataset == "imdb-sample" and "MiniLM" not in chosen.note


def test_the_offline_variable_is_named(monkeypatch, minilm):
    monkeypatch.setattr(defaults, "model_is_cached", lambda name: False)
    monkeypatch.setattr(defaults, "imdb_is_cached", lambda: False)
    chosen = defaults.resolve_sources(None, None)  # the autouse fixture sets HF_HUB_OFFLINE=1
    assert "HF_HUB_OFFLINE" in chosen.note


def test_the_bundled_sample_is_the_reference_draw():
    from bertcli.core.data import load_raw

    raw = load_raw("imdb-sample")
    assert {name: len(split) for name, split in raw.items()} == {"train": 2000, "test": 500}
    assert raw["train"].features["label"].names == ["neg", "pos"]
    assert sorted(set(raw["train"]["label"])) == [0, 1]
    assert (defaults.sample_folder() / "README.md").read_text().count("Maas") >= 1


class _AnswerEverything(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 - the http.server spelling
        self.send_response(200)
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, *args):
        pass


def _fresh_probe() -> None:
    """Forget the probe's answer and the hub client's session, which read the proxy variables when made."""
    from huggingface_hub.utils import close_session

    close_session()
    hub.hub_reachable.cache_clear()


def test_the_probe_goes_through_the_proxy(monkeypatch):
    """A machine that reaches the hub only through HTTP(S)_PROXY is online, as the hub client sees it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnswerEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxy = f"http://127.0.0.1:{server.server_address[1]}"
        import huggingface_hub.constants

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # the probe runs only when online
        for var in hub.OFFLINE_VARS:
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")  # unresolvable without the proxy
        for var in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(var, proxy)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        _fresh_probe()
        assert hub.hub_reachable(timeout=5)
        for var in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(var)
        _fresh_probe()
        assert not hub.hub_reachable(timeout=5)
    finally:
        server.shutdown()
        hub.hub_reachable.cache_clear()


def test_evaluate_scores_the_bundled_sample_by_default_offline(cli, final, monkeypatch):
    monkeypatch.setattr(defaults, "imdb_is_cached", lambda: False)
    result = cli("evaluate", "-m", final, "--size", "40", "--json")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "imdb-sample" in said and "offline mode is on" in said
    import json

    report = json.loads(result.stdout)
    assert report["dataset"] == "imdb-sample" and report["examples"] == 40


@pytest.mark.slow
def test_the_main_job_runs_offline_on_the_stand_ins(cli, tmp_path, monkeypatch, minilm):
    """`bertcli train` with no model or dataset, offline and uncached: the packaged MiniLM on the bundled sample."""
    monkeypatch.setattr(defaults, "model_is_cached", lambda name: False)
    monkeypatch.setattr(defaults, "imdb_is_cached", lambda: False)
    result = cli("train", "--max-steps", "3", "--train-size", "32", "--eval-size", "16", "--max-length", "64",
                 "--no-tensorboard", "-o", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())  # the note may wrap
    assert "the packaged all-MiniLM-L6-v2 for bert-base-uncased" in said
    assert "IMDb sample (imdb-sample)" in said
    import json

    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["num_hidden_layers"] == 6 and config["id2label"] == {"0": "negative", "1": "positive"}


def test_messages_name_the_packaged_model_by_its_short_name(minilm, tmp_path):
    from bertcli.core.defaults import model_display_name

    assert model_display_name(str(minilm)) == "all-MiniLM-L6-v2 (packaged)"
    assert model_display_name("bert-base-uncased") == "bert-base-uncased"
    assert model_display_name(str(tmp_path)) == str(tmp_path)
