"""Two CPU processes (gloo) under torchrun: different data per rank, only rank 0 writes, same result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


WORKER = Path(__file__).with_name("dist_worker.py")


def _train(tmp: Path, name: str, nproc: int, model: Path, data: Path, batch: int) -> tuple[Path, Path]:
    out, record = tmp / name, tmp / f"{name}-batches"
    record.mkdir()
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                "--master_port", "0", "--rdzv_backend", "c10d", "--rdzv_endpoint", "localhost:0"] if nproc > 1 else [sys.executable]
    cmd = [*launcher, str(WORKER), str(record), "train", "--model", str(model), "--dataset", str(data), "-o", str(out),
           "--max-length", "64", "--batch-size", str(batch), "--epochs", "3", "--lr", "5e-3", "--save-steps", "5",
           "--train-size", "all", "--eval-size", "all", "--no-tensorboard", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Run summary") == 1, "every rank printed a summary"
    return out, record


def _batches(record: Path, rank: int) -> list[list[list[int]]]:
    return [json.loads(line) for line in (record / f"rank{rank}.jsonl").read_text().splitlines()]


def _final_state(out: Path) -> dict:
    newest = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return json.loads((newest / "trainer_state.json").read_text())


def test_two_gloo_processes_match_one_process(tiny_model, reviews_csv, tmp_path):
    ddp_out, ddp_rec = _train(tmp_path, "ddp", 2, tiny_model, reviews_csv, batch=4)
    one_out, _ = _train(tmp_path, "single", 1, tiny_model, reviews_csv, batch=8)

    rank0, rank1 = _batches(ddp_rec, 0), _batches(ddp_rec, 1)
    assert len(rank0) == len(rank1) > 0
    first_epoch = len(rank0) // 3
    seen0 = {tuple(x) for b in rank0[:first_epoch] for x in b}
    seen1 = {tuple(x) for b in rank1[:first_epoch] for x in b}
    assert seen0 and seen1 and seen0 != seen1, "both ranks trained on the same examples"
    # together the ranks covered (nearly) all of the 86 training reviews in the first epoch
    assert len(seen0 | seen1) >= 80

    # only rank 0 wrote: one set of checkpoints and one final model, no per-rank copies
    assert (ddp_out / "final" / "model.safetensors").is_file()
    ddp_state, one_state = _final_state(ddp_out), _final_state(one_out)
    # same global batch (2 x 4 = 8): same number of steps and a comparable result
    assert ddp_state["global_step"] == one_state["global_step"]
    ddp_eval = [e for e in ddp_state["log_history"] if "eval_loss" in e][-1]
    one_eval = [e for e in one_state["log_history"] if "eval_loss" in e][-1]
    assert abs(ddp_eval["eval_accuracy"] - one_eval["eval_accuracy"]) <= 0.25
    assert abs(ddp_eval["eval_loss"] - one_eval["eval_loss"]) <= 0.35
    # the losses are on the same scale: not multiplied by the number of processes (loss and gradients alike)
    ddp_first = next(e for e in ddp_state["log_history"] if "loss" in e)
    one_first = next(e for e in one_state["log_history"] if "loss" in e)
    assert ddp_first["step"] == one_first["step"]
    assert 0.9 < ddp_first["loss"] / one_first["loss"] < 1.1, (ddp_first, one_first)
    first_evals = [next(e for e in s["log_history"] if "eval_loss" in e) for s in (ddp_state, one_state)]
    assert 0.9 < first_evals[0]["eval_loss"] / first_evals[1]["eval_loss"] < 1.1, first_evals
