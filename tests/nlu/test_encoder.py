"""The NumPy BERT of nlu/encoder.py against sentence-transformers with PyTorch (Python 3.11 has
both), and the PyTorch checkpoint reader of nlu/weights.py against ``torch.save``."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nlu.encoder import BertEncoder, default_model_folder
from nlu.weights import CheckpointError, read_torch_zip, read_weights

TEXTS = [
    "晚上好",
    "养老助残卡丢了咋补",
    "喂 那个 助餐卡 怎么 办理啊 🙂",
    "ABC hello 123 医保异地备案",
    "我家老头子瘫在床上好几年了 想问问能不能申请长护险 要去哪里办 需要带什么材料",
    "",
]


@pytest.fixture(scope="module")
def encoder() -> BertEncoder:
    return BertEncoder.load()


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(default_model_folder()), device="cpu")
    return model.encode(TEXTS, normalize_embeddings=True)


def test_sentence_vectors_match_sentence_transformers(encoder, reference) -> None:
    encoded = encoder.encode(TEXTS)
    for text, ours, theirs in zip(TEXTS, encoded, reference, strict=True):
        assert ours.sentence.shape == (512,)
        assert np.abs(ours.sentence - theirs).max() < 1e-4, text


def test_a_batch_gives_the_same_vectors_as_one_text_at_a_time(encoder) -> None:
    batch = encoder.encode(TEXTS)
    for text, together in zip(TEXTS, batch, strict=True):
        alone = encoder.encode([text])[0]
        assert np.allclose(alone.sentence, together.sentence, atol=1e-6)
        assert np.allclose(alone.tokens, together.tokens, atol=1e-6)


def test_token_vectors_carry_their_character_spans(encoder) -> None:
    encoded = encoder.encode(["ABC hello 养老"])[0]
    assert encoded.spans == [(0, 3), (4, 9), (10, 11), (11, 12)]
    assert encoded.tokens.shape == (4, 512)
    empty = encoder.encode([""])[0]
    assert empty.spans == [] and empty.tokens.shape == (0, 512)


def test_a_huge_text_is_truncated_not_rejected(encoder) -> None:
    encoded = encoder.encode(["养老" * 5000])[0]
    assert len(encoded.spans) == 126  # 128 pieces with [CLS] and [SEP]
    assert np.isfinite(encoded.sentence).all()


def test_the_identity_names_the_model_and_changes_with_its_weights(tmp_path: Path) -> None:
    folder = default_model_folder()
    assert BertEncoder.load(folder).identity.startswith("m3e-small@")
    copy = tmp_path / "m3e-small"
    copy.mkdir()
    (copy / "config.json").write_text((folder / "config.json").read_text(encoding="utf-8"))
    (copy / "pytorch_model.bin").write_bytes(b"x")
    from nlu.encoder import identity

    assert identity(copy) != identity(folder)


def test_the_torch_reader_gives_what_torch_saved(tmp_path: Path) -> None:
    import torch

    state = {
        "a.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "a.bias": torch.tensor([1.5, -2.0]),
        "t.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),  # strided view
        "ids": torch.tensor([[1, 2], [3, 4]], dtype=torch.int64),
        "half": torch.tensor([0.5, 0.25], dtype=torch.float16),
    }
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path)
    read = read_torch_zip(path)
    assert set(read) == set(state)
    for name, tensor in state.items():
        assert read[name].dtype == tensor.numpy().dtype
        assert np.array_equal(read[name], tensor.contiguous().numpy()), name
    assert set(read_weights(tmp_path)) == set(state)


def test_the_torch_reader_refuses_a_checkpoint_that_asks_for_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}))
    with pytest.raises(CheckpointError, match=r"posix\.system|os\.system"):
        read_torch_zip(path)


def test_clear_errors_for_folders_that_are_not_models(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        BertEncoder.load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"config\.json or tokenizer\.json"):
        BertEncoder.load(tmp_path)
    with pytest.raises(CheckpointError, match=r"neither model\.safetensors nor pytorch_model\.bin"):
        read_weights(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a PyTorch zip checkpoint"):
        read_weights(tmp_path)


def test_the_model_setting_picks_the_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINSHENG_EMBEDDING_MODEL", str(tmp_path))
    assert default_model_folder() == tmp_path
    monkeypatch.setenv("MINSHENG_EMBEDDING_MODEL", "hash:64")  # the knowledge tests' fake
    assert default_model_folder().name == "m3e-small"
    monkeypatch.delenv("MINSHENG_EMBEDDING_MODEL")
    assert default_model_folder().name == "m3e-small"
    assert json.loads((default_model_folder() / "config.json").read_text())["hidden_size"] == 512
