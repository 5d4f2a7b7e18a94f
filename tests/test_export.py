"""`bertcli export`: the ONNX folder, its parity gate on real labelled texts, and predict/evaluate on it."""

from __future__ import annotations

import json

import pytest

from trained import held_out_csv

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(final, tmp_path_factory):
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    out = tmp_path_factory.mktemp("export") / "model-onnx"
    done = CliRunner().invoke(app, ["export", str(final), "-o", str(out), "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return out, json.loads(done.stdout)


def test_fp32_export_passes_its_parity_gate(exported, final):
    out, report = exported
    assert report["written"] and report["parity"]["passed"] and report["parity"]["differing"] == 0
    assert report["parity"]["max_abs_diff"] < 1e-4
    assert report["parity"]["texts"] == 10  # the run's own eval split: 10 reviews carved from train
    assert {"model.onnx", "bertcli.json", "config.json", "README.md", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    manifest = json.loads((out / "bertcli.json").read_text())
    assert manifest["max_length"] == 64 and manifest["truncation"] == "head+tail"
    assert manifest["export"]["quantize"] == "none" and manifest["export"]["parity"]["passed"] is True
    assert "## ONNX export" in (out / "README.md").read_text()
    assert not list(final.glob("*.onnx")) and not list(out.parent.glob(".*partial*"))


def test_predict_on_the_export_gives_the_torch_answers(exported, final, cli, tmp_path):
    out, _ = exported
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(text for text, _ in held_out_rows_texts()) + "\n")
    runs = {}
    for model in (final, out):  # fp32 on both sides: on a bf16 CPU torch's 'auto' would be bf16
        done = cli("predict", "--model", model, "--file", texts, "--json", "--precision", "fp32")
        assert done.exit_code == 0, done.stderr
        runs[model] = json.loads(done.stdout)
    assert runs[out]["mode"] == "onnx-fp32"
    torch_preds, onnx_preds = runs[final]["predictions"], runs[out]["predictions"]
    assert [p["label"] for p in onnx_preds] == [p["label"] for p in torch_preds]
    assert [p["n_tokens"] for p in onnx_preds] == [p["n_tokens"] for p in torch_preds]
    assert max(abs(a["confidence"] - b["confidence"]) for a, b in zip(onnx_preds, torch_preds)) < 1e-5


def held_out_rows_texts():
    from trained import held_out_rows

    return held_out_rows()


def test_evaluate_on_the_export_gives_the_torch_labels(exported, final, cli, tmp_path_factory, tmp_path):
    out, _ = exported
    data = held_out_csv(tmp_path_factory)
    files = {}
    for name, model in (("torch", final), ("onnx", out)):
        files[name] = tmp_path / f"{name}.jsonl"
        done = cli("evaluate", "--model", model, "--dataset", data, "--predictions", files[name], "--json", "--precision", "fp32")
        assert done.exit_code == 0, done.stderr
    rows = {name: [json.loads(line) for line in path.read_text().splitlines()] for name, path in files.items()}
    assert [r["label"] for r in rows["onnx"]] == [r["label"] for r in rows["torch"]] and len(rows["onnx"]) == 60


def test_a_corrupted_export_fails_the_check_and_is_refused(exported, final, cli, tmp_path):
    import shutil

    import onnx
    from onnx import numpy_helper

    out, _ = exported
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    graph = onnx.load(str(broken / "model.onnx"))
    for init in graph.graph.initializer:  # the head's weights and bias negated: every label swapped
        if "classifier" in init.name:
            init.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), init.name))
    onnx.save(graph, str(broken / "model.onnx"))
    done = cli("export", final, "-o", broken, "--check-only")
    assert done.exit_code == 1 and "fails the parity check" in done.stderr
    assert json.loads((broken / "bertcli.json").read_text())["export"]["parity"]["passed"] is False
    refused = cli("predict", "--model", broken, "a wonderful film")
    assert refused.exit_code == 1 and "failed its parity check" in refused.stderr


def test_a_failed_gate_writes_nothing_unless_forced(final, tmp_path, monkeypatch, cli):
    """An export whose graph is wrong (here: the head's labels swapped while exporting) is refused, nothing left."""
    import bertcli.core.deploy.export as export

    real = export.write_onnx

    def swapped(model, path, vocab_size):
        import torch

        def flip():
            with torch.no_grad():
                model.classifier.weight.copy_(model.classifier.weight.flip(0))
                model.classifier.bias.copy_(model.classifier.bias.flip(0))

        flip()  # the graph records swapped labels; the model it is checked against keeps its own
        real(model, path, vocab_size)
        flip()

    monkeypatch.setattr(export, "write_onnx", swapped)
    out = tmp_path / "swapped"
    done = cli("export", final, "-o", out)
    assert done.exit_code == 1 and "export refused" in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    forced = cli("export", final, "-o", out, "--force", "--json")
    assert forced.exit_code == 0
    assert json.loads((out / "bertcli.json").read_text())["export"]["parity"]["forced"] is True
    assert "NOT met" in (out / "README.md").read_text()


def test_int8_export_reports_parity(final, tmp_path, cli):
    out = tmp_path / "int8"
    done = cli("export", final, "-o", out, "--quantize", "int8", "--force", "--json")
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["quantize"] == "int8" and report["parity"]["required"].startswith("≥ 99.5%")
    assert json.loads((out / "bertcli.json").read_text())["export"]["quantize"] == "int8"
    ran = cli("predict", "--model", out, "--json", "a wonderful film")
    assert json.loads(ran.stdout)["mode"] == "onnx-int8"
    assert cli("predict", "--model", out, "--precision", "bf16", "a film").exit_code == 2


def test_output_inside_the_model_or_not_empty_is_refused(final, cli, tmp_path):
    done = cli("export", final, "-o", final / "onnx")
    assert done.exit_code == 2 and "lies inside" in done.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    done = cli("export", final, "-o", tmp_path / "full")
    assert done.exit_code == 2 and "not empty" in done.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
