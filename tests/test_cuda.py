"""TSIN on a CUDA device: bf16 autocast training step, and fp32 agreement with the CPU.

Skipped without a CUDA device, unless ``TSIN_REQUIRE_CUDA=1`` (the GPU workflow): then they fail.
"""

from __future__ import annotations

import copy

import pytest
import torch

from tsin_nb.core import VARIANTS, TSINConfig, set_seed
from tsin_nb.model import build_model, loss_fn

pytestmark = pytest.mark.cuda


@pytest.fixture(autouse=True)
def _cuda_device() -> None:
    """Skip without a CUDA device; with $TSIN_REQUIRE_CUDA set, tests/conftest.py fails them before this runs."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (set TSIN_REQUIRE_CUDA=1 to fail instead)")


def cpu_batch(cfg: TSINConfig, B: int = 6) -> tuple[torch.Tensor, ...]:
    """Random padded inputs on the CPU, lengths varied across the batch."""
    g = torch.Generator().manual_seed(0)
    speech = torch.randn(B, cfg.n_frames, cfg.speech_dim, generator=g)
    text = torch.randn(B, cfg.n_words, cfg.text_dim, generator=g)
    s_len = torch.randint(1, cfg.n_frames + 1, (B,), generator=g)
    t_len = torch.randint(1, cfg.n_words + 1, (B,), generator=g)
    s_mask = torch.arange(cfg.n_frames)[None, :] < s_len[:, None]
    t_mask = torch.arange(cfg.n_words)[None, :] < t_len[:, None]
    y = torch.arange(B) % cfg.num_classes
    return speech, s_mask, text, t_mask, y


@pytest.mark.parametrize("bidirectional", [False, True])
def test_bf16_autocast_step_is_finite(bidirectional):
    cfg = TSINConfig.preset("cpu", bidirectional=bidirectional)
    set_seed(0)
    model = build_model(cfg, "tsin").cuda()
    speech, s_mask, text, t_mask, y = (t.cuda() for t in cpu_batch(cfg))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(speech, s_mask, text, t_mask)
        loss = loss_fn(out.logits.float(), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp32_cuda_matches_cpu(variant):
    cfg = TSINConfig.preset("cpu", bidirectional=True)
    set_seed(0)
    model = build_model(cfg, variant).eval()
    gpu_model = copy.deepcopy(model).cuda()
    speech, s_mask, text, t_mask, _ = cpu_batch(cfg)
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            cpu_out = model(speech, s_mask, text, t_mask)
            gpu_out = gpu_model(speech.cuda(), s_mask.cuda(), text.cuda(), t_mask.cuda())
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    assert torch.allclose(gpu_out.logits.cpu(), cpu_out.logits, atol=1e-4, rtol=1e-4)
    if cpu_out.alignment is not None:
        assert torch.allclose(gpu_out.alignment.cpu(), cpu_out.alignment, atol=1e-5)
