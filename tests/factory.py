"""Things tests build for themselves: a tiny random BERT, its tokenizer, and handwritten reviews."""

from __future__ import annotations

import random
from pathlib import Path

POSITIVE_WORDS = ["wonderful", "brilliant", "moving", "superb", "charming", "delightful", "great", "excellent"]
NEGATIVE_WORDS = ["terrible", "boring", "awful", "dull", "clumsy", "painful", "bad", "dreadful"]
FILLER = [
    "the", "movie", "film", "acting", "plot", "was", "and", "story", "cast", "music", "ending", "direction",
    "i", "thought", "it", "a", "really", "quite", "very", "of", "this", "with", "script", "scenes",
]
TEMPLATES = [
    "the {a} acting and {b} story made this film {c}",
    "i thought the movie was {a} and the ending {b}",
    "a {a} cast with {b} music and a really {c} script",
    "this film was {a} quite {b} and very {c}",
    "the plot was {a} the scenes {b} and the direction {c}",
]


def make_reviews(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """Short, clearly separable reviews: label 1 uses praise, label 0 uses complaints."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = POSITIVE_WORDS if label else NEGATIVE_WORDS
        template = rng.choice(TEMPLATES)
        text = template.format(a=rng.choice(words), b=rng.choice(words), c=rng.choice(words))
        if rng.random() < 0.3:  # some longer texts, so truncation and length grouping have work to do
            text += " " + " ".join(rng.choice(FILLER + words) for _ in range(rng.randint(10, 60)))
        rows.append((text, label))
    return rows


def vocabulary() -> dict[str, int]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + FILLER + ["movie", "worst", "ever", "ok", "film"]))
    return {tok: i for i, tok in enumerate(specials + words)}


def build_tiny_bert(folder: Path, max_positions: int = 128, seed: int = 0) -> Path:
    """A 2-layer random BERT with hidden size 32 and a matching WordPiece tokenizer, as safetensors."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(seed)
    vocab = vocabulary()
    tokenizer = BertTokenizer(vocab=vocab)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_distilbert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random DistilBERT (no token type ids, `attention_dropout` spelling) with the same vocabulary."""
    import torch
    from transformers import BertTokenizer, DistilBertConfig, DistilBertModel

    torch.manual_seed(seed)
    vocab = vocabulary()
    config = DistilBertConfig(vocab_size=len(vocab), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128)
    folder.mkdir(parents=True, exist_ok=True)
    DistilBertModel(config).save_pretrained(folder)
    BertTokenizer(vocab=vocab).save_pretrained(folder)
    return folder


def write_csv(path: Path, rows: list[tuple[str, int]], text_col: str = "text", label_col: str = "label", names=None) -> Path:
    import csv

    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([text_col, label_col])
        for text, label in rows:
            writer.writerow([text, names[label] if names else label])
    return path


def write_jsonl(path: Path, rows: list[tuple[str, int]], names=None) -> Path:
    import json

    with path.open("w") as fh:
        for text, label in rows:
            fh.write(json.dumps({"text": text, "label": names[label] if names else label}) + "\n")
    return path


def write_acl(root: Path, rows: list[tuple[str, int]], test_rows: list[tuple[str, int]]) -> Path:
    """The Stanford aclImdb/ layout: train/pos, train/neg, test/pos, test/neg, one review per file."""
    for split, data in (("train", rows), ("test", test_rows)):
        for sub in ("pos", "neg"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i, (text, label) in enumerate(data):
            (root / split / ("pos" if label else "neg") / f"{i}_{7 if label else 2}.txt").write_text(text)
    return root


MULTI_LABELS = ["good", "bad", "music"]


def make_multi_label_rows(n: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    """Short texts with any of three labels: praise → good, complaints → bad, 'music' → music; some carry none."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = [k for k in range(3) if (i >> k) & 1]  # every combination, in turn, the empty one too
        words = ["the", "film", "was"]
        if 0 in labels:
            words += [rng.choice(POSITIVE_WORDS), rng.choice(POSITIVE_WORDS)]
        if 1 in labels:
            words += [rng.choice(NEGATIVE_WORDS), rng.choice(NEGATIVE_WORDS)]
        if 2 in labels:
            words += ["music", "music"]
        words += [rng.choice(["plot", "cast", "story", "script"]) for _ in range(3)]
        rng.shuffle(words)
        rows.append((" ".join(words), labels))
    return rows
