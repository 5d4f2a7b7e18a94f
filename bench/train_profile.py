"""Where a training step's time goes, and how close the loop runs to the CPU's matrix-multiply peak.

`TrainProfile` times, while a Trainer runs inside it: the model's forward pass in training and in
evaluation, backward, gradient clipping, the optimizer step, checkpoint saving and evaluation; the rest
of the training wall time is data loading, logging and callbacks. It also counts the FLOPs the step runs:
every nn.Linear call exactly (2 x rows x in x out, forward) and every scaled-dot-product attention
(4 x batch x heads x queries x keys x head size, forward); a training step costs 3x its forward
(backward computes two products per forward product).
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

PARTS = ("forward", "backward", "grad clip", "optimizer", "evaluation", "checkpoint save")


class TrainProfile:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.forward_flops = 0.0  # training-mode forward passes only
        self.steps = 0
        self._undo: list = []

    @contextmanager
    def active(self):
        import torch
        import transformers
        from torch.nn.modules import module as nn_module
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        state = {"depth": 0, "eval": 0}

        def timed(owner, name, part):
            original = getattr(owner, name)

            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.seconds[part] += time.perf_counter() - started

            setattr(owner, name, wrapper)
            self._undo.append(lambda: setattr(owner, name, original))

        def evaluate(original):
            def wrapper(*args, **kwargs):
                state["eval"] += 1
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    state["eval"] -= 1
                    self.seconds["evaluation"] += time.perf_counter() - started

            return wrapper

        original_eval = transformers.Trainer.evaluate
        transformers.Trainer.evaluate = evaluate(original_eval)
        self._undo.append(lambda: setattr(transformers.Trainer, "evaluate", original_eval))
        timed(transformers.Trainer, "_save_checkpoint", "checkpoint save")
        timed(torch.Tensor, "backward", "backward")
        timed(torch.nn.utils, "clip_grad_norm_", "grad clip")

        started_at: dict[int, float] = {}

        def pre(module, args):
            if module.__class__.__name__.endswith("ForSequenceClassification"):
                started_at[id(module)] = time.perf_counter()

        def post(module, args, output):
            if isinstance(module, torch.nn.Linear) and module.training and not state["eval"] and args:
                rows = args[0].numel() // module.in_features
                self.forward_flops += 2.0 * rows * module.in_features * module.out_features
            began = started_at.pop(id(module), None)
            if began is not None:
                part = "forward" if module.training and not state["eval"] else "forward (eval)"
                self.seconds[part] += time.perf_counter() - began

        sdpa = torch.nn.functional.scaled_dot_product_attention

        def attention(query, key, value, *args, **kwargs):
            if torch.is_grad_enabled() and not state["eval"]:
                *lead, queries, head = query.shape
                batch_heads = 1
                for n in lead:
                    batch_heads *= n
                self.forward_flops += 4.0 * batch_heads * queries * key.shape[-2] * head
            return sdpa(query, key, value, *args, **kwargs)

        torch.nn.functional.scaled_dot_product_attention = attention
        self._undo.append(lambda: setattr(torch.nn.functional, "scaled_dot_product_attention", sdpa))
        handles = [nn_module.register_module_forward_pre_hook(pre), nn_module.register_module_forward_hook(post)]
        opt_started: list[float] = []
        handles.append(register_optimizer_step_pre_hook(lambda *a: opt_started.append(time.perf_counter())))

        def opt_done(*args):
            if opt_started:
                self.seconds["optimizer"] += time.perf_counter() - opt_started.pop()
            self.steps += 1

        handles.append(register_optimizer_step_post_hook(opt_done))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            while self._undo:
                self._undo.pop()()

    def breakdown(self, train_seconds: float) -> dict[str, float]:
        """Seconds per part; `backward` excludes nothing else (it is the autograd pass alone); `data, logging,
        other` is what the training wall time holds besides the timed parts."""
        parts = {part: self.seconds.get(part, 0.0) for part in PARTS}
        parts["evaluation"] = self.seconds.get("evaluation", 0.0)  # includes its own forward passes
        parts["data, logging, other"] = max(0.0, train_seconds - sum(parts.values()))
        return parts

    def step_flops(self) -> float:
        """FLOPs of one optimizer step: 3x the training forward passes, averaged over the steps."""
        return 3 * self.forward_flops / max(1, self.steps)


def print_breakdown(name: str, profile: TrainProfile, train_seconds: float, peak: float, peak_name: str) -> dict:
    parts = profile.breakdown(train_seconds)
    loop = parts["forward"] + parts["backward"] + parts["grad clip"] + parts["optimizer"]
    flops = profile.step_flops() * profile.steps
    print(f"\n{name}: {profile.steps} optimizer steps, {train_seconds:.1f} s training wall time")
    for part, seconds in parts.items():
        print(f"  {part:<22} {seconds:8.1f} s  {seconds / train_seconds:6.1%}")
    util_loop = flops / loop / peak if loop else 0.0
    util_wall = flops / train_seconds / peak if train_seconds else 0.0
    print(
        f"  model FLOPs per step {profile.step_flops() / 1e12:.3f} T; achieved {flops / loop / 1e9:.0f} GFLOP/s inside "
        f"forward+backward+optimizer = {util_loop:.1%} of the {peak_name} peak ({peak / 1e9:.0f} GFLOP/s); "
        f"{util_wall:.1%} over the whole training wall time"
    )
    return {
        "steps": profile.steps, "train_seconds": round(train_seconds, 2),
        "breakdown_seconds": {k: round(v, 2) for k, v in parts.items()},
        "step_tflops": round(profile.step_flops() / 1e12, 4), "peak": peak_name, "peak_gflops": round(peak / 1e9, 1),
        "utilisation_in_loop": round(util_loop, 4), "utilisation_of_wall": round(util_wall, 4),
    }
