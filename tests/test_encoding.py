from bertcli.core.encoding import encode_texts, keep_tokens


def test_head_tail_keeps_128_and_382_at_512():
    ids = list(range(1000))
    kept = keep_tokens(ids, 510, "head+tail")
    assert kept[:128] == list(range(128)) and kept[128:] == list(range(1000 - 382, 1000))
    assert keep_tokens(ids, 510, "head") == list(range(510))
    assert keep_tokens(ids, 510, "tail") == list(range(490, 1000))
    assert keep_tokens(ids[:20], 510, "head+tail") == ids[:20]


def test_encode_adds_specials_and_reports_full_length(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    long_text = " ".join(["great"] * 30 + ["boring"] * 30)
    out = encode_texts(tok, [long_text, "great movie"], max_length=12, truncation="head+tail")
    first, second = out["input_ids"]
    assert len(first) == 12 and first[0] == tok.cls_token_id and first[-1] == tok.sep_token_id
    assert out["n_tokens"] == [62, 4]
    words = tok.convert_ids_to_tokens(first[1:-1])
    assert words[:3] == ["great"] * 3 and words[-7:] == ["boring"] * 7  # 10 tokens: round(10*128/510)=3 head
    assert tok.convert_ids_to_tokens(second) == ["[CLS]", "great", "movie", "[SEP]"]
