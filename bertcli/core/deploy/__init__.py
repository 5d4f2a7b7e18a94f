"""From a trained model to a service: `export` (ONNX with a parity check on real data) and `serve` (an HTTP API).

- `export`: the ONNX file, its tokenizer, bertcli.json and card in a folder, written whole or not at all.
- `parity`: the PyTorch model and the export scored on the same labelled texts; the gate that refuses a drift.
- `batcher`: requests from many clients gathered into length-sorted micro-batches for one model.
- `server`: the FastAPI application and its uvicorn server (imported only by `bertcli serve`).
"""
