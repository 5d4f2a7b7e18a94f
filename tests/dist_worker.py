"""Run `bertcli train` under torchrun while recording, per rank, the labels+ids of every batch it trained on."""

import json
import os
import sys
from pathlib import Path

from bertcli.core.training import trainer

record_dir = Path(sys.argv[1])
original = trainer.padding_collator


def recording_collator(tokenizer, pad_to_multiple_of):
    collate = original(tokenizer, pad_to_multiple_of)
    log = record_dir / f"rank{os.environ.get('RANK', '0')}.jsonl"

    def collate_and_record(features):
        with log.open("a") as fh:
            fh.write(json.dumps([list(f["input_ids"]) for f in features]) + "\n")
        return collate(features)

    return collate_and_record


trainer.padding_collator = recording_collator

from bertcli.cli.app import main  # noqa: E402

main(sys.argv[2:])
