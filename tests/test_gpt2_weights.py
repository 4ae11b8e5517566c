"""Chapter 3: loading GPT-2 checkpoints (t2sql_lib.gpt2_weights), checked against Hugging Face transformers.

The reference is ``transformers``' own GPT-2 (a dev dependency): a small one with random weights is saved
in the Hub's safetensors layout, loaded into ``GPTModel``, and both must give the same logits.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import urllib.error
import urllib.request

import pytest
import torch
from safetensors.torch import load_file, save_file

from t2sql_lib import gpt2_weights
from t2sql_lib.gpt2_weights import GPT2_URL, gpt2_checkpoint_path, load_gpt2_weights, resolve_gpt2_checkpoint
from t2sql_lib.model import GPTConfig, GPTModel

transformers = pytest.importorskip("transformers")

VOCAB, CTX, EMB, HEADS, LAYERS = 100, 64, 64, 2, 2
CFG = GPTConfig(vocab_size=VOCAB, context_length=CTX, emb_dim=EMB, n_heads=HEADS, n_layers=LAYERS,
                drop_rate=0.0, qkv_bias=True, tie_weights=True)


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory):
    """(a transformers GPT2LMHeadModel with random weights, the folder it was saved to)."""
    transformers.utils.logging.disable_progress_bar()
    hf_cfg = transformers.GPT2Config(
        n_layer=LAYERS, n_head=HEADS, n_embd=EMB, n_positions=CTX, vocab_size=VOCAB, bos_token_id=0,
        eos_token_id=0, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
    )
    torch.manual_seed(1234)
    model = transformers.GPT2LMHeadModel(hf_cfg).eval()
    with torch.no_grad():  # non-trivial biases and layer norms, so a dropped or misplaced tensor shows
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("hf_gpt2")
    model.save_pretrained(folder, safe_serialization=True)
    return model, folder


def hf_logits(hf_model, idx):
    with torch.no_grad():
        return hf_model(idx).logits


def our_logits(model, idx):
    with torch.no_grad():
        return model.eval()(idx)


IDX = torch.randint(0, VOCAB, (3, 40), generator=torch.Generator().manual_seed(7))


def test_logits_match_transformers(hf_gpt2):
    hf_model, folder = hf_gpt2
    model = GPTModel(CFG)
    assert load_gpt2_weights(model, folder) == folder / "model.safetensors"
    diff = (our_logits(model, IDX) - hf_logits(hf_model, IDX)).abs().max().item()
    assert diff < 1e-4
    # the check has teeth: a freshly initialised model is far off
    assert (our_logits(GPTModel(CFG), IDX) - hf_logits(hf_model, IDX)).abs().max().item() > 0.1


def test_layout_without_prefix_and_with_mask_buffers(hf_gpt2, tmp_path):
    """openai-community/gpt2's file has no "transformer." prefix and carries attention-mask buffers."""
    hf_model, folder = hf_gpt2
    tensors = {k.removeprefix("transformer."): v for k, v in load_file(folder / "model.safetensors").items()}
    assert "wte.weight" in tensors
    for i in range(LAYERS):
        tensors[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, CTX, CTX))
    path = tmp_path / "gpt2.safetensors"
    save_file(tensors, str(path))
    model = GPTModel(CFG)
    load_gpt2_weights(model, path)  # a file path, not a folder
    assert (our_logits(model, IDX) - hf_logits(hf_model, IDX)).abs().max().item() < 1e-4


def test_larger_vocab_is_padded(hf_gpt2):
    hf_model, folder = hf_gpt2
    model = GPTModel(dataclasses.replace(CFG, vocab_size=128))
    load_gpt2_weights(model, folder)
    logits = our_logits(model, IDX)
    assert logits.shape[-1] == 128
    assert (logits[..., :VOCAB] - hf_logits(hf_model, IDX)).abs().max().item() < 1e-4
    mean = model.tok_emb.weight[:VOCAB].mean(dim=0)
    torch.testing.assert_close(model.tok_emb.weight[VOCAB:], mean.expand(128 - VOCAB, -1))


def test_smaller_vocab_is_a_clear_error(hf_gpt2):
    with pytest.raises(ValueError, match=r"tok_emb\.weight.*vocab_size"):
        load_gpt2_weights(GPTModel(dataclasses.replace(CFG, vocab_size=90)), hf_gpt2[1])


def test_shorter_context_keeps_the_first_positions(hf_gpt2):
    hf_model, folder = hf_gpt2
    model = GPTModel(dataclasses.replace(CFG, context_length=40))
    load_gpt2_weights(model, folder)
    assert (our_logits(model, IDX) - hf_logits(hf_model, IDX)).abs().max().item() < 1e-4
    with pytest.raises(ValueError, match=r"pos_emb\.weight.*context_length"):
        load_gpt2_weights(GPTModel(dataclasses.replace(CFG, context_length=80)), folder)


def test_untied_model_starts_from_the_embedding(hf_gpt2):
    hf_model, folder = hf_gpt2
    model = GPTModel(dataclasses.replace(CFG, tie_weights=False))
    load_gpt2_weights(model, folder)
    assert model.lm_head.weight is not model.tok_emb.weight
    torch.testing.assert_close(model.lm_head.weight, model.tok_emb.weight)
    assert (our_logits(model, IDX) - hf_logits(hf_model, IDX)).abs().max().item() < 1e-4


def test_shape_mismatch_names_the_tensor(hf_gpt2, tmp_path):
    tensors = load_file(hf_gpt2[1] / "model.safetensors")
    tensors["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(EMB, 3 * EMB)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"blocks\.1\.ff\.fc\.weight <- h\.1\.mlp\.c_fc\.weight"):
        load_gpt2_weights(GPTModel(CFG), tmp_path)


def test_missing_tensor_is_named(hf_gpt2, tmp_path):
    tensors = load_file(hf_gpt2[1] / "model.safetensors")
    del tensors["transformer.h.0.attn.c_proj.bias"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(KeyError, match=r"h\.0\.attn\.c_proj\.bias"):
        load_gpt2_weights(GPTModel(CFG), tmp_path)


def test_wrong_heads_are_caught_from_config_json(hf_gpt2, tmp_path):
    shutil.copy(hf_gpt2[1] / "model.safetensors", tmp_path / "model.safetensors")
    hf_config = json.loads((hf_gpt2[1] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(hf_config))
    with pytest.raises(ValueError, match="n_head=2"):
        load_gpt2_weights(GPTModel(dataclasses.replace(CFG, n_heads=4)), tmp_path)


def test_model_shape_errors(hf_gpt2):
    with pytest.raises(ValueError, match="qkv_bias=True"):
        load_gpt2_weights(GPTModel(dataclasses.replace(CFG, qkv_bias=False)), hf_gpt2[1])
    with pytest.raises(ValueError, match="n_layer"):
        load_gpt2_weights(GPTModel(dataclasses.replace(CFG, n_layers=3)), hf_gpt2[1])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        resolve_gpt2_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="gpt2-medium"):
        resolve_gpt2_checkpoint(tmp_path / "nothing.safetensors")


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes, length: int):
        super().__init__(payload)
        self.headers = {"Content-Length": str(length)}


def test_download_renames_only_a_complete_file(hf_gpt2, tmp_path, monkeypatch):
    monkeypatch.setenv("T2SQL_DATA_DIR", str(tmp_path))
    payload = (hf_gpt2[1] / "model.safetensors").read_bytes()
    urls = []

    def complete(url, timeout):
        urls.append(url)
        return FakeResponse(payload, len(payload))

    monkeypatch.setattr(urllib.request, "urlopen", complete)
    path = resolve_gpt2_checkpoint("gpt2")
    assert urls == ["https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors"]
    assert path == gpt2_checkpoint_path("gpt2") == tmp_path / "raw" / "gpt2" / "gpt2" / "model.safetensors"
    assert path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]
    assert resolve_gpt2_checkpoint("gpt2") == path and len(urls) == 1  # cached: no second download

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(payload[:1000], len(payload)))
    with pytest.raises(RuntimeError, match="gpt2-medium"):
        gpt2_weights.download_gpt2("gpt2-medium")
    assert not (tmp_path / "raw" / "gpt2" / "gpt2-medium" / "model.safetensors").exists()
    assert list((tmp_path / "raw" / "gpt2" / "gpt2-medium").iterdir()) == []  # no partial file left


def test_offline_download_error_names_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("T2SQL_DATA_DIR", str(tmp_path))

    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError) as err:
        with torch.device("meta"):  # shapes only: the download fails before any weight is touched
            model = GPTModel(GPTConfig.gpt2("gpt2"))
        load_gpt2_weights(model, "gpt2")
    assert GPT2_URL.format(name="gpt2") in str(err.value)
    assert list((tmp_path / "raw" / "gpt2" / "gpt2").iterdir()) == []
    with pytest.raises(ValueError, match="unknown GPT-2 size"):
        gpt2_weights.download_gpt2("gpt5")
