"""Find a trained model, load it for inference, and classify texts fast and in order.

- `resolve`: which model to load (--model, a run folder's model, or the newest under results/).
- `load`: the model and tokenizer, on a device and in a precision (`Classifier`).
- `int8`, `cls_only`: the two ways the model is made cheaper to run on top of bf16.
- `classify`: one window of texts, tokenized once, sorted by length into batches, put back in order.
- `stream`: any number of texts through a window at a time, so memory stays flat on any input size.
- `texts`: texts from the command line, files (text, CSV, JSON Lines, Parquet) or stdin.
- `records`: predictions as flat records, written as JSON Lines or CSV.
- `predict`: `bertcli predict` as a function: input, batching, flagging, a summary; output goes to a sink.
"""
