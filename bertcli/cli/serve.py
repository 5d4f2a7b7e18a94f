"""`bertcli serve`: an HTTP API over a trained model or an ONNX export."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertcli.cli.options import InferencePrecisionOpt, QuantizeOpt, number_option
from bertcli.core import limits
from bertcli.core.limits import Range


def serve_cmd(
    model: Annotated[Optional[str], typer.Argument(help="A trained model folder, a run folder or an export folder (default: the newest under ./results).", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but localhost needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, number_option("--port", within=Range(0, 65535, integer=True), help="Port to listen on (0: any free port).")] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="BERTCLI_API_KEY", help="Key every request must send (Authorization: Bearer KEY or X-API-Key), 16+ characters.", show_default=False)] = None,
    flag: Annotated[Optional[str], typer.Option("--flag", help="Mark predictions of this label (\"flagged\": true), e.g. negative.", show_default=False)] = None,
    threshold: Annotated[Optional[float], number_option("--threshold", within=limits.THRESHOLD, help="With --flag: the least confidence to flag (default 0).", show_default=False)] = None,
    batch_tokens: Annotated[int, number_option("--batch-tokens", within=Range(64, 1_000_000, integer=True), help="Most padded tokens in one forward pass of a micro-batch.")] = 4096,
    max_wait_ms: Annotated[float, number_option("--max-wait-ms", within=Range(0, 10_000), help="How long the first text of a micro-batch waits for others.")] = 5.0,
    max_queue: Annotated[int, number_option("--max-queue", within=Range(1, 1_000_000, integer=True), help="Texts waiting for the model, all requests together; beyond it: 503.")] = 1024,
    max_texts: Annotated[int, number_option("--max-texts", within=Range(1, 100_000, integer=True), help="Texts per /predict request.")] = 256,
    max_text_chars: Annotated[int, number_option("--max-text-chars", within=Range(1, 10_000_000, integer=True), help="Characters per text.")] = 20_000,
    max_body_bytes: Annotated[int, number_option("--max-body-bytes", within=Range(1, 1_000_000_000, integer=True), help="Bytes per /predict body.")] = 1_000_000,
    quantize: QuantizeOpt = "none",
    precision: InferencePrecisionOpt = "auto",
) -> None:
    """Serve a model over HTTP: POST /predict, POST /predict/stream, GET /health, GET /info, docs at /docs.

    Requests from concurrent clients are gathered into length-sorted micro-batches; the model is loaded
    once. Stop with Ctrl-C or SIGTERM: requests in flight are answered first.

    \b
    Examples:
      bertcli serve results/final
      bertcli serve model-onnx --port 8080 --flag negative --threshold 0.9
      curl -s localhost:8000/predict -d '{"texts": ["a wonderful film"]}'
    """
    from bertcli.core.deploy.server import ServeSettings, check_settings, serve
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.resolve import resolve_model
    from bertcli.render.deploy import server_line

    settings = check_settings(ServeSettings(
        host=host, port=port, api_key=api_key or None, batch_tokens=batch_tokens, max_wait_ms=max_wait_ms, max_queue=max_queue,
        max_body_bytes=max_body_bytes, max_texts=max_texts, max_text_chars=max_text_chars, flag=flag, threshold=threshold,
    ))
    resolved = resolve_model(model)
    clf = load_for_inference(resolved.path, precision=precision, quantize=quantize)
    for note in clf.notes:
        server_line(note)
    serve(clf, settings, server_line)
