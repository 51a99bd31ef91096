"""Tests of tsin_nb.model: each equation against a direct computation, masks, gradients, training."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F

from tsin_nb.core import VARIANTS, TSINConfig, set_seed
from tsin_nb.model import (
    MEC,
    FusionLSTM,
    MultiKernelBlock,
    PositionScore,
    SemanticInteraction,
    SpeechEncoder,
    TSINOutput,
    WordMatch,
    build_model,
    count_parameters,
    forward_sum_loss,
    loss_fn,
    normalize_weights,
    pool_frames,
    temporal_alignment,
    uniform_alignment,
    word_match_loss,
)

TINY = TSINConfig.preset("tiny")


pytestmark = pytest.mark.usefixtures("one_thread")


def prefix_mask(lengths: list[int], total: int) -> torch.Tensor:
    """(B, total) boolean mask, True on the first lengths[b] steps."""
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


def tiny_batch(cfg: TSINConfig, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random padded inputs for ``cfg``; frame lengths deliberately not multiples of the stride."""
    g = torch.Generator().manual_seed(seed)
    B, n, m = 4, cfg.n_frames, cfg.n_words
    speech = torch.randn(B, n, cfg.speech_dim, generator=g)
    text = torch.randn(B, m, cfg.text_dim, generator=g)
    s_len = [n, n - 7, 5, 1]
    t_len = [m, m - 3, 2, 1]
    return speech, prefix_mask(s_len, n), text, prefix_mask(t_len, m)


# ------------------------------------------------------------ equations ---


def test_temporal_alignment_matches_direct_computation():
    g = torch.Generator().manual_seed(1)
    B, N, M, D = 3, 7, 5, 6
    S = torch.randn(B, N, D, generator=g, dtype=torch.float64)
    T = torch.randn(B, M, D, generator=g, dtype=torch.float64)
    s_len, t_len = [7, 4, 1], [5, 3, 2]
    S_mask, T_mask = prefix_mask(s_len, N), prefix_mask(t_len, M)
    U, alpha_prime = temporal_alignment(S, S_mask, T, T_mask)
    assert U.shape == (B, M, D) and alpha_prime.shape == (B, M, N)
    lam = 1 / math.sqrt(D)
    for b in range(B):
        for j in range(M):
            if j >= t_len[b]:
                assert torch.all(U[b, j] == 0) and torch.all(alpha_prime[b, j] == 0)
                continue
            alpha = [float(T[b, j] @ S[b, i]) for i in range(s_len[b])]  # Eq. 3
            z = sum(math.exp(lam * a) for a in alpha)
            weights = [math.exp(lam * a) / z for a in alpha]  # Eq. 4
            u = sum(w * S[b, i] for i, w in enumerate(weights))  # Eq. 5
            assert torch.allclose(alpha_prime[b, j, : s_len[b]], torch.tensor(weights, dtype=torch.float64))
            assert torch.all(alpha_prime[b, j, s_len[b] :] == 0)
            assert torch.allclose(U[b, j], u)


def test_position_score_is_a_learned_function_of_relative_positions():
    """align_pos: the added score depends on relative positions only, and a bilinear map can make it diagonal."""
    set_seed(4)
    pos = PositionScore(4, 6).double()
    S_mask, T_mask = prefix_mask([10, 5], 10), prefix_mask([4, 2], 4)
    score = pos(S_mask, T_mask)
    assert score.shape == (2, 4, 10)
    # padding changes nothing: utterance 2's real block equals the same utterance scored without padding
    assert torch.allclose(score[1, :2, :5], pos(prefix_mask([5], 5), prefix_mask([2], 2))[0])
    # W_t^T W_s = identity gives sum_f cos(pi f (q - p)): largest where the frame sits at the word's position
    wide = PositionScore(4, 8).double()
    with torch.no_grad():
        wide.w_s.weight.copy_(torch.eye(8, dtype=torch.float64))
        wide.w_t.weight.copy_(torch.eye(8, dtype=torch.float64))
    diag = wide(prefix_mask([40], 40), prefix_mask([4], 4))[0]  # (4, 40)
    peaks = diag.argmax(dim=1)
    centres = torch.tensor([(j + 0.5) / 4 * 40 - 0.5 for j in range(4)])  # frame index where p_i = q_j
    assert torch.all((peaks - centres).abs() <= 0.5)


def test_align_pos_adds_parameters_only_where_eq3_runs():
    cfg = TINY.replace(align_pos=3)
    assert build_model(cfg, "tsin").position is not None and build_model(cfg, "no_si").position is not None
    for variant in ("no_ta", "speech", "text"):
        assert build_model(cfg, variant).position is None
    assert build_model(TINY, "tsin").position is None
    with pytest.raises(ValueError, match="align_pos"):
        TINY.replace(align_pos=-1)


def test_word_match_logits_and_loss_by_hand():
    """align_nce: logits are cos(P u_j, t_k) / tau; the loss is -log softmax over the real words, diagonal target."""
    match = WordMatch(2).double()
    with torch.no_grad():
        match.proj.weight.copy_(torch.eye(2, dtype=torch.float64))
    U = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]], dtype=torch.float64)  # third word is padding
    T = torch.tensor([[[3.0, 0.0], [1.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    logits = match(U, T)[0]
    c = 1 / math.sqrt(2)
    assert torch.allclose(logits[:2, :2], torch.tensor([[1.0, c], [0.0, c]], dtype=torch.float64) / 0.1)
    mask = torch.tensor([[True, True, False]])
    by_hand = -0.5 * (math.log(math.exp(10) / (math.exp(10) + math.exp(10 * c)))
                      + math.log(math.exp(10 * c) / (1 + math.exp(10 * c))))
    assert word_match_loss(logits[None], mask).item() == pytest.approx(by_hand, rel=1e-6)
    # a padded word is never a candidate: its (huge) logit changes nothing
    bumped = logits.clone()
    bumped[:, 2] = 1e6
    assert word_match_loss(bumped[None], mask).item() == pytest.approx(by_hand, rel=1e-6)
    # an utterance of one word has nothing to tell apart: no loss, but a gradient path (zero)
    lone = word_match_loss(logits[None].requires_grad_(True), torch.tensor([[True, False, False]]))
    assert lone.item() == 0.0 and lone.requires_grad


def test_align_nce_adds_parameters_only_where_eq3_runs():
    cfg = TINY.replace(align_nce=0.5)
    for variant in ("tsin", "no_si"):
        model = build_model(cfg, variant)
        assert model.word_match is not None
        s, t = torch.randn(2, cfg.n_frames, cfg.speech_dim), torch.randn(2, cfg.n_words, cfg.text_dim)
        out = model(s, prefix_mask([40, 20], cfg.n_frames), t, prefix_mask([8, 3], cfg.n_words))
        assert out.word_match.shape == (2, cfg.n_words, cfg.n_words)
    for variant in ("no_ta", "speech", "text"):
        assert build_model(cfg, variant).word_match is None
    assert build_model(TINY, "tsin").word_match is None
    with pytest.raises(ValueError, match="align_nce"):
        TINY.replace(align_nce=-1.0)
    assert TINY.replace(align_nce=0.0).legacy_dict() == TINY.legacy_dict()  # old results keep their folders
    assert "align_nce" in TINY.replace(align_nce=0.5).legacy_dict()


def _paths_by_hand(logp: torch.Tensor, m: int) -> float:
    """log of the sum over every frame labelling (blank 0, word j = j + 1) that collapses to 1..m."""
    n, c = logp.shape
    total = []
    for labels in itertools.product(range(c), repeat=n):
        collapsed = [k for i, k in enumerate(labels) if k != 0 and (i == 0 or labels[i - 1] != k)]
        if collapsed == list(range(1, m + 1)):
            total.append(sum(logp[i, k].item() for i, k in enumerate(labels)))
    return float(torch.logsumexp(torch.tensor(total, dtype=torch.float64), dim=0)) if total else -math.inf


def test_forward_sum_loss_against_every_path_by_hand():
    """align_ctc: -log of the summed probability of every monotonic path through words 1..m, / m, mean over utterances."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 6, dtype=torch.float64) * 2  # (B, M, N)
    S_mask, T_mask = prefix_mask([5, 4], 6), prefix_mask([3, 2], 3)
    by_hand = []
    for b, (n, m) in enumerate([(5, 3), (4, 2)]):
        x = torch.cat([torch.full((n, 1), -1.0, dtype=torch.float64), logits[b, :m, :n].T], dim=1)  # (n, 1 + m)
        by_hand.append(-_paths_by_hand(torch.log_softmax(x, dim=1), m) / m)
    loss = forward_sum_loss(logits, S_mask, T_mask)
    assert loss.item() == pytest.approx(sum(by_hand) / 2, rel=1e-5)
    # padded frames and words change nothing, whatever their scores
    bumped = logits.clone()
    bumped[0, :, 5] = 50.0
    bumped[1, 2, :] = 50.0
    bumped[1, :, 4:] = -50.0
    assert forward_sum_loss(bumped, S_mask, T_mask).item() == pytest.approx(loss.item(), rel=1e-6)
    # fewer frames than words: no path, no loss (and no NaN)
    assert forward_sum_loss(logits[:1], prefix_mask([2], 6), prefix_mask([3], 3)).item() == 0.0


def test_forward_sum_gradient_from_uniform_scores_follows_word_order():
    """From equal scores every path is as likely: the first step already gives each frame its share of the words, in order."""
    n, m = 12, 3
    logits = torch.zeros(1, m, n, requires_grad=True)
    forward_sum_loss(logits, prefix_mask([n], n), prefix_mask([m], m)).backward()
    favoured = (-logits.grad[0]).argmax(dim=0)  # (N,): the word each frame's score is pushed towards
    assert favoured[0] == 0 and favoured[-1] == m - 1
    assert (favoured[1:] >= favoured[:-1]).all()  # in order
    assert set(favoured.tolist()) == set(range(m))  # every word gets frames


def test_align_ctc_gives_a_loss_only_where_eq3_runs():
    cfg = TINY.replace(align_ctc=0.5)
    s, t = torch.randn(2, cfg.n_frames, cfg.speech_dim), torch.randn(2, cfg.n_words, cfg.text_dim)
    masks = prefix_mask([40, 20], cfg.n_frames), prefix_mask([8, 3], cfg.n_words)
    for variant in ("tsin", "no_si"):
        torch.manual_seed(0)
        model = build_model(cfg, variant)
        torch.manual_seed(0)
        plain = build_model(TINY, variant)
        assert count_parameters(model) == count_parameters(plain)  # a loss, not a module
        out = model(s, masks[0], t, masks[1])
        assert out.forward_sum is not None and out.forward_sum.dim() == 0 and out.forward_sum.item() > 0
        assert torch.equal(out.logits, plain(s, masks[0], t, masks[1]).logits)  # the forward pass is unchanged
    for variant in ("no_ta", "speech", "text"):
        model = build_model(cfg, variant)
        assert model(s, masks[0], t, masks[1]).forward_sum is None
    with pytest.raises(ValueError, match="align_ctc"):
        TINY.replace(align_ctc=-1.0)
    assert TINY.replace(align_ctc=0.0).legacy_dict() == TINY.legacy_dict()  # old results keep their folders
    assert "align_ctc" in TINY.replace(align_ctc=0.5).legacy_dict()


def test_align_ctc_detach_trains_the_position_score_only():
    """align_ctc_detach: the forward-sum loss reaches Eq. 3's position score, never the encoders; the value is unchanged."""
    s, t = torch.randn(2, TINY.n_frames, TINY.speech_dim), torch.randn(2, TINY.n_words, TINY.text_dim)
    masks = prefix_mask([40, 20], TINY.n_frames), prefix_mask([8, 3], TINY.n_words)
    losses = {}
    for detach in (False, True):
        torch.manual_seed(0)
        model = build_model(TINY.replace(align_ctc=1.0, align_pos=4, align_ctc_detach=detach), "tsin")
        out = model(s, masks[0], t, masks[1])
        out.forward_sum.backward()
        losses[detach] = out.forward_sum.item()
        reached = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert any(name.startswith("position.") for name in reached)
        assert any(name.startswith(("speech_encoder.", "text_encoder.")) for name in reached) is not detach
    assert losses[True] == pytest.approx(losses[False], rel=1e-6)
    with pytest.raises(ValueError, match="align_ctc_detach"):
        TINY.replace(align_ctc=1.0, align_ctc_detach=True)  # no position score to train


def test_align_temp_softens_eq4_and_leaves_the_forward_sum_loss_as_it_was():
    """align_temp: Eq. 4 = softmax(logits / temperature); the forward-sum loss reads the undivided logits."""
    torch.manual_seed(0)
    S, T = torch.randn(2, 9, 6), torch.randn(2, 4, 6)
    S_mask, T_mask = prefix_mask([9, 5], 9), prefix_mask([4, 2], 4)
    _, plain, logits = temporal_alignment(S, S_mask, T, T_mask, 0.1, return_logits=True)
    _, soft, logits_t = temporal_alignment(S, S_mask, T, T_mask, 0.1, return_logits=True, temperature=3.0)
    assert torch.equal(logits, logits_t)
    expected = torch.softmax((logits / 3.0).masked_fill(~S_mask[:, None, :], float("-inf")), dim=-1)
    assert torch.allclose(soft, expected * T_mask[:, :, None], atol=1e-6)

    def entropy(a: torch.Tensor) -> torch.Tensor:
        return -(a * a.clamp(min=1e-12).log()).sum(-1)[T_mask]
    assert (entropy(soft) > entropy(plain)).all()  # every real word spreads its attention wider
    assert soft[1, 2:].abs().sum() == 0 and soft[1, :, 5:].abs().sum() == 0  # padding stays at 0
    with pytest.raises(ValueError, match="align_temp"):
        TINY.replace(align_temp=0.0)
    assert TINY.replace(align_temp=1.0).legacy_dict() == TINY.legacy_dict()


@pytest.mark.parametrize("si_pairing", ["prose", "printed"])
@pytest.mark.parametrize("si_weights", ["softmax", "literal"])
@pytest.mark.parametrize("si_shared", [True, False])
def test_semantic_interaction_matches_direct_computation(si_weights, si_shared, si_pairing):
    cfg = TINY.replace(si_weights=si_weights, si_shared=si_shared, si_pairing=si_pairing)
    set_seed(2)
    si = SemanticInteraction(cfg).double()
    n_sets = len({id(p) for p in si.parameters()})
    assert n_sets == (4 if si_shared else 8)
    g = torch.Generator().manual_seed(3)
    B, M, D = 3, cfg.n_words, cfg.d_model
    U = torch.randn(B, M, D, generator=g, dtype=torch.float64)
    T = torch.randn(B, M, D, generator=g, dtype=torch.float64)
    t_len = [M, 3, 1]
    mask = prefix_mask(t_len, M)
    U = U * mask[..., None]  # temporal_alignment gives padded words U = 0
    U_tilde, T_tilde, w_speech, w_text = si(U, T, mask)

    pt, ps = si.p_t, si.p_s  # parameters of the w^t line and of the w^s line
    for b in range(B):
        m = t_len[b]
        h_t = T[b, :m].mean(0)  # Eq. 6
        h_s = U[b, :m].mean(0)
        w_t = torch.stack([  # Eq. 7, first line
            pt.V.weight[0] @ torch.tanh(pt.x_s.weight @ U[b, i] + pt.x_t.weight @ h_t + pt.b) for i in range(m)
        ])
        w_s = torch.stack([  # Eq. 7, second line
            ps.V.weight[0] @ torch.tanh(ps.x_t.weight @ T[b, i] + ps.x_s.weight @ h_s + ps.b) for i in range(m)
        ])
        if si_weights == "literal":  # Eq. 8 as printed
            wt_tilde, ws_tilde = w_t / w_t.sum(), w_s / w_s.sum()
        else:
            wt_tilde, ws_tilde = w_t.exp() / w_t.exp().sum(), w_s.exp() / w_s.exp().sum()
        # Eq. 9: as the prose reads, w^t recalibrates U and w^s recalibrates T; as printed, the other way round
        on_u, on_t = (ws_tilde, wt_tilde) if si_pairing == "printed" else (wt_tilde, ws_tilde)
        assert torch.allclose(w_speech[b, :m], on_u)
        assert torch.allclose(w_text[b, :m], on_t)
        assert torch.all(w_speech[b, m:] == 0) and torch.all(w_text[b, m:] == 0)
        for i in range(m):
            assert torch.allclose(U_tilde[b, i], U[b, i] * on_u[i])
            assert torch.allclose(T_tilde[b, i], T[b, i] * on_t[i])
        assert torch.all(U_tilde[b, m:] == 0) and torch.all(T_tilde[b, m:] == 0)


def test_literal_normalization_is_the_raw_ratio_and_never_nan():
    w = torch.tensor([[0.5, -0.2, 0.1, 9.0], [0.0, 0.0, 3.0, 3.0]])
    mask = prefix_mask([3, 2], 4)
    out = normalize_weights(w, mask, "literal")
    assert torch.allclose(out[0, :3], w[0, :3] / w[0, :3].sum())  # a negative entry stays negative
    assert out[0, 3] == 0 and torch.all(out[1] == 0)  # exact 0/0 gives 0, not NaN
    assert torch.isfinite(normalize_weights(w, torch.zeros_like(mask), "softmax")).all()
    with pytest.raises(ValueError, match="si_weights"):
        normalize_weights(w, mask, "other")


def direct_multi_kernel(block: MultiKernelBlock, x: torch.Tensor, length: int) -> torch.Tensor:
    """Eq. 2 by loops: each branch y_l = b + sum_o W[:, :, o] x_{l+o-k//2} over real steps, then max."""
    outs = []
    for conv in block.convs:
        W, bias = conv.weight, conv.bias  # (H_out, H_in, k), (H_out,)
        k = W.shape[-1]
        y = []
        for pos in range(length):
            acc = bias.clone()
            for o in range(k):
                src = pos + o - k // 2
                if 0 <= src < length:
                    acc = acc + W[:, :, o] @ x[src]
            y.append(acc)
        outs.append(torch.stack(y))  # (length, H_out)
    return torch.stack(outs).amax(0)  # (length, H_out)


def test_multi_kernel_block_matches_explicit_conv_and_max():
    set_seed(4)
    block = MultiKernelBlock(5, 6, (1, 3, 5)).double()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 9, 5, generator=g, dtype=torch.float64)
    lengths = [9, 4, 1]
    y = block(x, prefix_mask(lengths, 9))
    assert y.shape == (3, 9, 6)
    for b, n in enumerate(lengths):
        xb = x[b, :n].T[None]  # (1, 5, n): only real steps, zero padding outside
        ref = torch.stack([F.conv1d(xb, c.weight, c.bias, padding=c.kernel_size[0] // 2) for c in block.convs])
        assert torch.allclose(y[b, :n], ref.amax(0)[0].T)
        assert torch.allclose(y[b, :n], direct_multi_kernel(block, x[b], n))
        assert torch.all(y[b, n:] == 0)


@pytest.mark.parametrize("kernels", [(1,), (1, 3), (3,)])
def test_text_kernels_give_eq2_its_own_kernels(kernels):
    """Eq. 2 with its own kernels: each t_i reads words i-k//2 .. i+k//2 only; Eq. 11 keeps kernel_sizes."""
    cfg = TINY.replace(text_kernels=kernels)
    model = build_model(cfg, "tsin")
    assert [c.kernel_size[0] for c in model.text_encoder.block.convs] == list(kernels)
    assert [c.kernel_size[0] for c in model.mec.block.convs] == list(TINY.kernel_sizes)
    enc = model.text_encoder.double()
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 8, cfg.text_dim, generator=g, dtype=torch.float64)
    mask = torch.ones(1, 8, dtype=torch.bool)
    changed = x.clone()
    changed[0, 5] += 1.0  # word 5's vector changes
    diff = (enc(changed, mask) - enc(x, mask)).abs().amax(-1)[0]  # (M,): which t_i moved
    reach = max(kernels) // 2
    assert torch.all(diff[[i for i in range(8) if abs(i - 5) > reach]] == 0)
    assert diff[5] > 0
    assert TSINConfig(**{**cfg.to_dict(), "kernel_sizes": tuple(cfg.kernel_sizes)}) == cfg  # read back from JSON
    assert TSINConfig(**json.loads(cfg.to_json())) == cfg  # lists from JSON become tuples
    assert TINY.replace(text_kernels=()).legacy_dict() == TINY.legacy_dict()  # old results keep their folders
    assert "text_kernels" in cfg.legacy_dict()
    with pytest.raises(ValueError, match="text_kernels"):
        TINY.replace(text_kernels=(2,))


def test_mec_matches_direct_computation():
    cfg = TINY  # C = 4 emotions
    set_seed(6)
    mec = MEC(7, cfg).double().eval()
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 6, 7, generator=g, dtype=torch.float64)
    lengths = [6, 3]
    logits, emb = mec(x, prefix_mask(lengths, 6))
    assert logits.shape == (2, 4) and emb.shape == (2, 7)
    for b, n in enumerate(lengths):
        f_prime = direct_multi_kernel(mec.block, x[b], n).mean(0)  # Eq. 11
        assert torch.allclose(emb[b], f_prime)
        assert torch.allclose(logits[b], mec.fc.weight @ f_prime + mec.fc.bias)
    y = torch.tensor([2, 0])
    expected = -(torch.log_softmax(logits, -1)[torch.arange(2), y]).mean()  # Eq. 12
    assert torch.allclose(loss_fn(logits, y), expected)


def test_mec_weighted_pool_matches_direct_computation():
    """mec_pool="si": Eq. 11's f_mean becomes a weighted sum over the real steps; one-hot weights pick one step."""
    set_seed(6)
    mec = MEC(7, TINY).double().eval()
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 6, 7, generator=g, dtype=torch.float64)
    lengths = [6, 3]
    mask = prefix_mask(lengths, 6)
    w = torch.tensor([[0.1, 0.2, 0.3, 0.1, 0.2, 0.1], [0.5, 0.25, 0.25, 0.0, 0.0, 0.0]], dtype=torch.float64)
    logits, emb = mec(x, mask, w)
    for b, n in enumerate(lengths):
        y = direct_multi_kernel(mec.block, x[b], n)  # (n, 7)
        assert torch.allclose(emb[b], (w[b, :n, None] * y).sum(0))
        assert torch.allclose(logits[b], mec.fc.weight @ emb[b] + mec.fc.bias)
    one_hot = torch.zeros(2, 6, dtype=torch.float64)
    one_hot[0, 4] = one_hot[1, 1] = 1.0
    emb_one = mec(x, mask, one_hot)[1]
    assert torch.allclose(emb_one[0], direct_multi_kernel(mec.block, x[0], 6)[4])
    assert torch.allclose(emb_one[1], direct_multi_kernel(mec.block, x[1], 3)[1])
    uniform = mask.to(torch.float64) / mask.sum(1, keepdim=True)
    assert torch.allclose(mec(x, mask, uniform)[1], mec(x, mask)[1])  # uniform weights are f_mean


@pytest.mark.parametrize("variant", ["tsin", "no_ta", "no_si"])
def test_mec_pool_si_uses_the_eq9_weights_on_the_meaning(variant):
    """The model pools with the weights Eq. 9 applies to T; "w/o SI" has none and keeps f_mean."""
    g = torch.Generator().manual_seed(3)
    speech = torch.randn(2, TINY.n_frames, TINY.speech_dim, generator=g)
    s_mask = prefix_mask([TINY.n_frames, 20], TINY.n_frames)
    text = torch.randn(2, TINY.n_words, TINY.text_dim, generator=g)
    t_mask = prefix_mask([TINY.n_words, 5], TINY.n_words)
    outs = {}
    for pool in ("mean", "si"):
        set_seed(4)  # the same parameters for both: mec_pool adds none
        model = build_model(TINY.replace(mec_pool=pool), variant).eval()
        outs[pool] = model(speech, s_mask, text, t_mask)
    mean, si = outs["mean"], outs["si"]
    assert torch.equal(mean.text_weights, si.text_weights) if mean.text_weights is not None else si.text_weights is None
    if variant == "no_si":
        assert torch.equal(mean.logits, si.logits)
        return
    assert not torch.allclose(mean.embedding, si.embedding)
    w = si.text_weights  # (B, M), 0 on padding, rows summing to 1
    assert torch.allclose(w.sum(1), torch.ones(2)) and torch.all(w[1, 5:] == 0)
    # embedding = sum_i w_i y_i and f_mean = mean_i y_i of the same block output y: check both against one y
    set_seed(4)
    model = build_model(TINY.replace(mec_pool="si"), variant).eval()
    captured = {}
    model.mec.block.register_forward_hook(lambda mod, inp, out: captured.setdefault("y", out))
    model(speech, s_mask, text, t_mask)
    y = captured["y"]  # (B, M, D')
    assert torch.allclose(si.embedding, (w[:, :, None] * y).sum(1), atol=1e-6)
    assert torch.allclose(mean.embedding, (y * t_mask[:, :, None]).sum(1) / t_mask.sum(1, keepdim=True), atol=1e-6)


def test_pool_frames_averages_real_frames_only():
    x = torch.arange(12.0).reshape(1, 6, 2)  # (B, N_in, F)
    mask = prefix_mask([3], 6)
    pooled, m = pool_frames(x.clone(), mask, 2)
    assert m.tolist() == [[True, True, False]]
    assert torch.equal(pooled[0, 0], x[0, :2].mean(0))
    assert torch.equal(pooled[0, 1], x[0, 2])  # frame 3 is padding: only frame 2 enters the mean
    assert torch.all(pooled[0, 2] == 0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstms_see_only_real_steps(bidirectional):
    """A padded sequence gives the same outputs as the unpadded one, in both directions."""
    cfg = TINY.replace(bidirectional=bidirectional)
    set_seed(8)
    enc, fusion = SpeechEncoder(cfg), FusionLSTM(cfg)
    g = torch.Generator().manual_seed(9)
    speech = torch.randn(2, cfg.n_frames, cfg.speech_dim, generator=g) * 5
    S, S_mask = enc(speech, prefix_mask([cfg.n_frames, 12], cfg.n_frames))
    S_short, _ = enc(speech[1:, :12], torch.ones(1, 12, dtype=torch.bool))
    assert torch.allclose(S[1, :6], S_short[0], atol=1e-6)
    assert S_mask[1].sum() == 6 and torch.all(S[1, 6:] == 0)

    U = torch.randn(2, cfg.n_words, cfg.d_model, generator=g)
    T = torch.randn(2, cfg.n_words, cfg.d_model, generator=g)
    out = fusion(U, T, prefix_mask([cfg.n_words, 3], cfg.n_words))
    short = fusion(U[1:, :3], T[1:, :3], torch.ones(1, 3, dtype=torch.bool))
    assert out.shape == (2, cfg.n_words, cfg.d_fusion)
    assert torch.allclose(out[1, :3], short[0], atol=1e-6)
    assert torch.all(out[1, 3:] == 0)


# ------------------------------------------------------------ alignment ---


@pytest.mark.parametrize(("n", "m"), [(40, 8), (20, 7), (8, 8), (3, 8), (1, 4), (17, 1)])
def test_uniform_alignment_is_contiguous_equal_segments(n, m):
    N, M, D = 40, 8, 3
    g = torch.Generator().manual_seed(10)
    S = torch.randn(1, N, D, generator=g)
    S_mask, T_mask = prefix_mask([n], N), prefix_mask([m], M)
    U, A = uniform_alignment(S, S_mask, T_mask)
    A = A[0]
    assert torch.allclose(A[:m].sum(-1), torch.ones(m))
    assert torch.all(A[m:] == 0) and torch.all(A[:, n:] == 0)
    covered = torch.zeros(N, dtype=torch.bool)
    prev_start, sizes = -1, []
    for j in range(m):
        idx = torch.nonzero(A[j]).flatten()
        assert len(idx) >= 1
        assert torch.equal(idx, torch.arange(int(idx[0]), int(idx[-1]) + 1))  # contiguous
        assert torch.allclose(A[j, idx], torch.full((len(idx),), 1.0 / len(idx)))  # a mean
        assert int(idx[0]) >= prev_start  # in order
        prev_start = int(idx[0])
        covered[idx] = True
        sizes.append(len(idx))
        assert torch.allclose(U[0, j], S[0, idx].mean(0), atol=1e-6)
    assert torch.all(covered[:n])  # every real frame belongs to some word
    if m <= n:
        assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n  # equal, disjoint segments


# ------------------------------------------------------ the whole model ---


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_masks_are_honoured(variant, bidirectional):
    cfg = TINY.replace(bidirectional=bidirectional)
    set_seed(11)
    model = build_model(cfg, variant).eval()
    speech, s_mask, text, t_mask = tiny_batch(cfg)
    out = model(speech, s_mask, text, t_mask)
    assert isinstance(out, TSINOutput)
    assert out.logits.shape == (4, cfg.num_classes)
    width = cfg.d_model if variant in ("speech", "text") else cfg.d_fusion
    assert out.embedding.shape == (4, width)

    g = torch.Generator().manual_seed(12)
    speech2, text2 = speech.clone(), text.clone()
    speech2[~s_mask] = torch.randn(int((~s_mask).sum()), cfg.speech_dim, generator=g) * 1e3
    text2[~t_mask] = torch.randn(int((~t_mask).sum()), cfg.text_dim, generator=g) * 1e3
    speech2[3, -1, 0], text2[3, -1, 0] = float("nan"), float("inf")
    out2 = model(speech2, s_mask, text2, t_mask)
    assert torch.equal(out.logits, out2.logits)
    assert torch.equal(out.embedding, out2.embedding)

    if variant in ("speech", "text"):
        assert out.alignment is None and out.speech_weights is None and out.text_weights is None
        return
    N = cfg.n_frames // cfg.speech_stride
    assert out.alignment.shape == (4, cfg.n_words, N)
    frame_real = s_mask.reshape(4, N, cfg.speech_stride).any(-1)  # (B, N)
    assert torch.all(out.alignment.masked_select(~frame_real[:, None, :]) == 0)
    assert torch.all(out.alignment[~t_mask] == 0)
    real_rows = out.alignment[t_mask]
    assert torch.allclose(real_rows.sum(-1), torch.ones(len(real_rows)), atol=1e-5)
    if variant == "no_si":
        assert out.speech_weights is None and out.text_weights is None
    else:
        for w in (out.speech_weights, out.text_weights):
            assert w.shape == (4, cfg.n_words)
            assert torch.all(w[~t_mask] == 0)
            assert torch.allclose(w.sum(-1), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize(
    ("variant", "changes"),
    [(v, {}) for v in VARIANTS] + [("tsin", {"si_shared": False, "bidirectional": True, "lstm_layers": 2}),
                                   ("tsin", {"si_pairing": "printed", "align_pos": 4})],
)
def test_every_parameter_gets_a_gradient(variant, changes):
    cfg = TINY.replace(**changes)
    set_seed(13)
    model = build_model(cfg, variant)
    speech, s_mask, text, t_mask = tiny_batch(cfg)
    loss_fn(model(speech, s_mask, text, t_mask).logits, torch.tensor([0, 1, 2, 3])).backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not dead, f"{variant}: parameters without gradient: {dead}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_empty_utterances_give_finite_outputs(variant):
    cfg = TINY
    set_seed(14)
    model = build_model(cfg, variant)
    speech, s_mask, text, t_mask = tiny_batch(cfg)
    s_mask[0], t_mask[1] = False, False
    out = model(speech, s_mask, text, t_mask)
    loss_fn(out.logits, torch.tensor([0, 1, 2, 3])).backward()
    assert torch.isfinite(out.logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_invalid_inputs_raise_clear_errors():
    cfg = TINY
    model = build_model(cfg, "tsin")
    speech, s_mask, text, t_mask = tiny_batch(cfg)
    with pytest.raises(ValueError, match="speech must be"):
        model(speech[..., :-1], s_mask, text, t_mask)
    with pytest.raises(ValueError, match="text must be"):
        model(speech, s_mask, text[..., :-1], t_mask)
    with pytest.raises(ValueError, match="speech_mask must be"):
        model(speech, s_mask[:, :-1], text, t_mask)
    with pytest.raises(ValueError, match="prefix"):
        model(speech, s_mask, text, t_mask.flip(1))
    with pytest.raises(ValueError, match="speech_stride"):
        model(speech[:, :-1], s_mask[:, :-1], text, t_mask)
    with pytest.raises(ValueError, match="batch sizes"):
        model(speech[:2], s_mask[:2], text, t_mask)
    with pytest.raises(ValueError, match="needs text"):
        model(speech, s_mask, None, None)
    with pytest.raises(ValueError, match="no_ta"):
        build_model(cfg, "full")
    assert build_model(cfg, "speech")(speech, s_mask, None, None).logits.shape == (4, 4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_overfits_one_batch(variant):
    cfg = TSINConfig.preset("cpu", classifier_dropout=0.0)
    set_seed(0)
    model = build_model(cfg, variant)
    g = torch.Generator().manual_seed(0)
    B = 8
    speech = torch.randn(B, cfg.n_frames, cfg.speech_dim, generator=g)
    text = torch.randn(B, cfg.n_words, cfg.text_dim, generator=g)
    s_mask = prefix_mask(torch.randint(50, cfg.n_frames + 1, (B,), generator=g).tolist(), cfg.n_frames)
    t_mask = prefix_mask(torch.randint(3, cfg.n_words + 1, (B,), generator=g).tolist(), cfg.n_words)
    y = torch.arange(B) % cfg.num_classes
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    first = None
    for _ in range(200):
        loss = loss_fn(model(speech, s_mask, text, t_mask).logits, y)
        first = loss.item() if first is None else first
        if loss.item() <= 0.1 * first:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    drop = 1 - loss.item() / first
    assert drop >= 0.9, f"{variant}: loss fell only {drop:.1%} ({first:.3f} -> {loss.item():.3f})"


def test_seeded_runs_are_bit_identical():
    cfg = TSINConfig.preset("tiny", classifier_dropout=0.2)

    def run() -> list[float]:
        set_seed(123)
        model = build_model(cfg, "tsin")
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        speech, s_mask, text, t_mask = tiny_batch(cfg)
        losses = []
        for _ in range(4):
            loss = loss_fn(model(speech, s_mask, text, t_mask).logits, torch.tensor([0, 1, 2, 3]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    first, second = run(), run()
    assert first == second
    assert len(set(first)) > 1  # training moved


def test_paper_preset_builds_and_runs():
    cfg = TSINConfig.preset("paper")
    set_seed(0)
    model = build_model(cfg, "tsin").eval()
    n_params = count_parameters(model)
    print(f"paper preset, tsin: {n_params:,} parameters")
    speech = torch.randn(2, 500, 120)
    text = torch.randn(2, 150, 768)
    s_mask, t_mask = prefix_mask([500, 321], 500), prefix_mask([150, 17], 150)
    with torch.no_grad():
        out = model(speech, s_mask, text, t_mask)
    assert out.logits.shape == (2, 4) and out.embedding.shape == (2, 512)
    assert out.alignment.shape == (2, 150, 500)
    assert torch.isfinite(out.logits).all()
    assert n_params > 10_000_000


@pytest.mark.parametrize("how", ["mean", "mec"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_mec_speech_puts_the_frames_summary_beside_f_prime(variant, how):
    """mec_speech: f' of the fused variants gains the mean of Eq. 1's outputs over the real frames (after their own
    multi-kernel block for "mec"); the logits read it; Speech and Text are built exactly as without it."""
    g = torch.Generator().manual_seed(5)
    speech = torch.randn(2, TINY.n_frames, TINY.speech_dim, generator=g)
    s_mask = prefix_mask([TINY.n_frames, 14], TINY.n_frames)
    text = torch.randn(2, TINY.n_words, TINY.text_dim, generator=g)
    t_mask = prefix_mask([TINY.n_words, 5], TINY.n_words)
    cfg = TINY.replace(mec_speech=how)
    set_seed(2)
    model = build_model(cfg, variant).eval()
    plain = build_model(TINY, variant)
    if variant in ("speech", "text"):
        assert count_parameters(model) == count_parameters(plain) and model.speech_block is None
        return
    d = TINY.d_model
    block = sum(d * d * k + d for k in TINY.kernel_sizes) if how == "mec" else 0  # one conv per kernel size
    assert count_parameters(model) == count_parameters(plain) + block + TINY.num_classes * d  # + the classifier's columns
    captured = {}
    model.speech_encoder.register_forward_hook(lambda mod, inp, out: captured.setdefault("S", out))
    out = model(speech, s_mask, text, t_mask)
    S, S_mask = captured["S"]  # (B, N, D), (B, N)
    if how == "mec":
        S = model.speech_block(S, S_mask)
    summary = (S * S_mask[:, :, None]).sum(1) / S_mask.sum(1, keepdim=True)  # (B, D): real frames only
    assert out.embedding.shape == (2, model.mec.fc.in_features)
    assert torch.allclose(out.embedding[:, -TINY.d_model:], summary, atol=1e-6)
    assert torch.allclose(out.logits, model.mec.fc(out.embedding), atol=1e-6)
    with torch.no_grad():
        model.mec.fc.weight[:, -TINY.d_model:] = 0.0  # without the summary's columns, the logits of mec_speech="none"
        words_only = model.mec.fc(out.embedding)
    assert torch.allclose(model(speech, s_mask, text, t_mask).logits, words_only, atol=1e-6)
    with pytest.raises(ValueError, match="extra vector"):
        model.mec(torch.randn(2, 3, model.mec.block.convs[0].in_channels), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mec_speech"):
        TINY.replace(mec_speech="max")
    assert TINY.replace(mec_speech="none").legacy_dict() == TINY.legacy_dict()  # old results keep their folders


def test_text_noise_moves_each_real_word_vector_about_its_own_scale_in_training_only():
    """text_noise: Gaussian noise of text_noise x each word vector's RMS, added in training; padding stays 0."""
    cfg = TINY.replace(text_dim=512, text_noise=0.5)
    model = build_model(cfg, "tsin")
    seen = []
    model.text_encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    g = torch.Generator().manual_seed(3)
    text = torch.randn(4, cfg.n_words, cfg.text_dim, generator=g) * torch.tensor([0.5, 1.0, 2.0, 4.0])[:, None, None]
    text_mask = prefix_mask([8, 5, 3, 1], cfg.n_words)
    speech = torch.randn(4, cfg.n_frames, cfg.speech_dim, generator=g)
    speech_mask = prefix_mask([40, 30, 20, 10], cfg.n_frames)
    clean = text * text_mask[..., None]
    model.train()
    model(speech, speech_mask, text, text_mask)
    moved = seen[-1] - clean
    rms = clean.pow(2).mean(-1).sqrt()  # (B, M)
    ratio = moved.std(-1)[text_mask] / rms[text_mask]  # each real word's noise over its own RMS
    assert torch.allclose(ratio, torch.full_like(ratio, 0.5), atol=0.1)  # 512 draws per word
    assert torch.all(seen[-1][~text_mask] == 0)  # padding
    model.eval()
    model(speech, speech_mask, text, text_mask)
    assert torch.equal(seen[-1], clean)  # evaluation reads the vectors as given
    quiet = build_model(cfg.replace(text_noise=0.0), "tsin").train()
    quiet.text_encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    quiet(speech, speech_mask, text, text_mask)
    assert torch.equal(seen[-1], clean)
    assert TINY.replace(text_noise=0.0).legacy_dict() == TINY.legacy_dict()  # old results keep their folders
    assert "text_noise" in cfg.legacy_dict()
    with pytest.raises(ValueError, match="text_noise"):
        TINY.replace(text_noise=-0.1)
