"""The switches that let TSIN hear the voice (docs/TUNING.md): block pooling with the standard deviation,
the diagonal prior on Eq. 4, the auxiliary speech head, and results saved before a field existed."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch
from test_train import make_fold, make_store

from tsin_nb.core import TSINConfig, set_seed
from tsin_nb.model import (
    LocalWindow,
    TimeWarp,
    alignment_logits,
    alignment_weights,
    build_model,
    count_parameters,
    diagonal_prior,
    masked_softmax,
    pool_frames,
    prior_alignment,
)
from tsin_nb.show import paper_vs_run
from tsin_nb.train import config_diff, fit, prior_weight_at

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = TSINConfig.preset("tiny", epochs=2, batch_size=8)


def test_mean_std_pooling_keeps_the_block_mean_and_adds_its_std() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 12, 5, generator=g)  # (B, N_in, F)
    mask = torch.arange(12)[None, :] < torch.tensor([12, 7, 1])[:, None]  # (B, N_in)
    mean, m1 = pool_frames(x, mask, 4, "mean")
    both, m2 = pool_frames(x, mask, 4, "mean_std")
    assert both.shape == (3, 3, 10) and torch.equal(m1, m2)
    torch.testing.assert_close(both[..., :5], mean)
    block = x[1, 4:7]  # the second utterance's second block holds 3 real frames (4, 5, 6)
    torch.testing.assert_close(both[1, 1, 5:], block.std(dim=0, unbiased=False), atol=1e-4, rtol=1e-4)
    assert both[2, 0, 5:].abs().max() < 1e-3  # one real frame: no spread
    assert both[1, 2].abs().sum() == 0 and both[2, 1:].abs().sum() == 0  # padded blocks stay zero
    with pytest.raises(ValueError, match="speech_pool"):
        pool_frames(x, mask, 4, "max")
    with pytest.raises(ValueError, match="speech_pool"):
        TSINConfig.preset("cpu", speech_pool="max")


def test_mean_std_pooling_widens_only_the_speech_lstm_input() -> None:
    plain = build_model(CFG, "speech")
    wide = build_model(CFG.replace(speech_pool="mean_std"), "speech")
    extra = count_parameters(wide) - count_parameters(plain)
    assert extra == 4 * CFG.d_model * CFG.speech_dim  # the LSTM's input weights of the 4 gates, F more inputs
    result = fit(wide, make_store(CFG), make_fold(make_store(CFG)), CFG.replace(speech_pool="mean_std"),
                 progress=False, log=None)
    assert np.isfinite(result.history[-1]["train_loss"])


def test_the_diagonal_prior_follows_word_order() -> None:
    n, m = 40, 5
    S_mask = torch.ones(1, n, dtype=torch.bool)
    T_mask = torch.ones(1, m, dtype=torch.bool)
    zero = torch.zeros(1, m, n)  # no evidence from Eq. 3: the prior alone decides
    a = alignment_weights(zero, S_mask, T_mask, 16, prior=0.05)  # (1, M, N)
    centre = [8 * j + 3.5 for j in range(m)]  # word j sits at (j + 1/2) / m of the utterance: between 2 frames
    assert all(abs(i - c) == 0.5 for i, c in zip(a[0].argmax(dim=-1).tolist(), centre))
    own = torch.stack([a[0, j, 8 * j:8 * j + 8].sum() for j in range(m)])  # each word's equal segment
    assert own.min() > 0.6  # uniform attention would put 0.2 there
    torch.testing.assert_close(a.sum(-1), torch.ones(1, m))
    torch.testing.assert_close(prior_alignment(S_mask, T_mask, 1, 0.05), a)  # the helper notebook 09 uses
    pooled = prior_alignment(S_mask.repeat_interleave(2, dim=1), T_mask, 2, 0.05)  # 80 frames in blocks of 2
    torch.testing.assert_close(pooled, a)
    wide = alignment_weights(zero, S_mask, T_mask, 16, prior=10.0)
    torch.testing.assert_close(wide, torch.full((1, m, n), 1 / n), atol=1e-4, rtol=0)
    log_prior = diagonal_prior(S_mask, T_mask, 0.05)
    assert log_prior[0, 2, 19].item() == pytest.approx(-((19.5 / 40 - 2.5 / 5) ** 2) / (2 * 0.05**2), rel=1e-5)


def test_no_prior_is_eq4_as_printed_and_padding_stays_zero() -> None:
    g = torch.Generator().manual_seed(1)
    alpha = torch.randn(2, 4, 10, generator=g)
    S_mask = torch.arange(10)[None, :] < torch.tensor([10, 6])[:, None]
    T_mask = torch.arange(4)[None, :] < torch.tensor([4, 2])[:, None]
    printed = masked_softmax((1.0 / math.sqrt(8)) * alpha, S_mask[:, None, :]) * T_mask[:, :, None]
    assert torch.equal(alignment_weights(alpha, S_mask, T_mask, 8), printed)
    with_prior = alignment_weights(alpha, S_mask, T_mask, 8, prior=0.1)
    assert with_prior[1, :, 6:].abs().sum() == 0 and with_prior[1, 2:].abs().sum() == 0
    assert not torch.allclose(with_prior, printed)
    with pytest.raises(ValueError, match="align_prior"):
        TSINConfig.preset("cpu", align_prior=-0.1)


def test_the_prior_changes_alignment_but_no_parameter() -> None:
    store = make_store(CFG)
    batch = (store.speech[:4], store.speech_mask[:4], store.text[:4], store.text_mask[:4])
    outs = []
    for prior in (0.0, 0.05):
        set_seed(0)
        model = build_model(CFG.replace(align_prior=prior), "tsin").eval()
        outs.append((count_parameters(model), model(*batch).alignment))
    assert outs[0][0] == outs[1][0]
    assert not torch.allclose(outs[0][1], outs[1][1])


def test_the_learned_window_is_the_prior_with_a_trainable_width() -> None:
    """align_local: at its starting width the window adds exactly the prior's log-window, and only tsin / no_si own one."""
    g = torch.Generator().manual_seed(2)
    alpha = torch.randn(2, 4, 10, generator=g)
    S_mask = torch.arange(10)[None, :] < torch.tensor([10, 6])[:, None]
    T_mask = torch.arange(4)[None, :] < torch.tensor([4, 2])[:, None]
    window = LocalWindow(0.07)
    assert window.width.item() == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        learned = alignment_weights(alpha, S_mask, T_mask, 8, window=window)
    torch.testing.assert_close(learned, alignment_weights(alpha, S_mask, T_mask, 8, prior=0.07))
    assert learned[1, :, 6:].abs().sum() == 0 and learned[1, 2:].abs().sum() == 0  # padding stays zero
    cfg = CFG.replace(align_prior=0.0, align_local=0.5)
    for variant in ("tsin", "no_si"):
        assert build_model(cfg, variant).window is not None
    for variant in ("no_ta", "speech", "text"):
        assert build_model(cfg, variant).window is None
    assert count_parameters(build_model(cfg, "tsin")) == count_parameters(build_model(CFG, "tsin")) + 1
    assert CFG.replace(align_local=0.0).legacy_dict() == CFG.legacy_dict()  # old results keep their folders
    for bad in ({"align_local": -0.1}, {"align_local": 0.2, "align_prior": 0.05}):
        with pytest.raises(ValueError, match="align_local"):
            TSINConfig.preset("cpu", **bad)
    with pytest.raises(ValueError, match="width"):
        LocalWindow(0.0)


def test_the_window_width_travels_far_in_a_few_hundred_adam_steps() -> None:
    """The exp(10 theta) width: with Adam at the cpu preset's learning rate, 300 steps take a window that starts
    nearly uniform (width 1) to a few hundredths when each word must read its own frames; log width itself does not."""
    n = m = 8
    S = torch.eye(n)[None]  # (1, N, D): frame i is the one-hot e_i
    S_mask, T_mask = torch.ones(1, n, dtype=torch.bool), torch.ones(1, m, dtype=torch.bool)

    class LogWidth(LocalWindow):  # the plain parameterisation: theta = log width
        SCALE = 1.0

    def train(window: LocalWindow) -> float:
        opt = torch.optim.Adam(window.parameters(), lr=3e-3)
        for _ in range(300):
            a = alignment_weights(torch.zeros(1, m, n), S_mask, T_mask, 1, window=window)  # (1, M, N)
            loss = -torch.log(torch.diagonal(torch.bmm(a, S)[0]) + 1e-9).mean()  # word j should read frame j
            opt.zero_grad()
            loss.backward()
            opt.step()
        return window.width.item()

    assert train(LocalWindow(1.0)) < 0.05  # 0.03 on this toy: each word reads its own frame
    assert train(LogWidth(1.0)) > 0.2  # Adam moves theta by about lr per step: 0.3 after the same 300 steps


def test_fit_records_the_learned_width_every_epoch() -> None:
    cfg = CFG.replace(align_prior=0.0, align_local=0.5, lr=3e-2, epochs=3)
    store = make_store(cfg)
    set_seed(0)
    result = fit(build_model(cfg, "tsin"), store, make_fold(store), cfg, progress=False, log=None)
    widths = [h["align_width"] for h in result.history]
    assert len(widths) == 3 and all(0 < w < math.inf for w in widths) and widths[-1] != pytest.approx(0.5)
    set_seed(0)
    plain = fit(build_model(CFG, "tsin"), store, make_fold(store), CFG, progress=False, log=None)
    assert "align_width" not in plain.history[0]


def test_the_fading_prior_runs_from_the_prior_to_none() -> None:
    """align_anneal: weight 1 is exactly the prior, weight 0 exactly no prior; only tsin / no_si carry the weight."""
    assert [prior_weight_at(e, 4) for e in range(1, 7)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert prior_weight_at(9, 0) == 1.0  # no fading: the prior stays
    cfg = CFG.replace(align_prior=0.05, align_anneal=3)
    store = make_store(CFG)
    batch = (store.speech[:4], store.speech_mask[:4], store.text[:4], store.text_mask[:4])
    set_seed(0)
    faded = build_model(cfg, "tsin").eval()
    outs = {}
    for prior in (0.05, 0.0):
        plain = build_model(CFG.replace(align_prior=prior), "tsin").eval()
        plain.load_state_dict({k: v for k, v in faded.state_dict().items() if k != "prior_weight"})
        outs[prior] = plain(*batch).alignment
    with torch.no_grad():
        torch.testing.assert_close(faded(*batch).alignment, outs[0.05])  # starts as the prior
        faded.prior_weight.fill_(0.0)
        torch.testing.assert_close(faded(*batch).alignment, outs[0.0])  # ends as Eq. 4 without it
        faded.prior_weight.fill_(0.5)
        half = faded(*batch).alignment
    assert not torch.allclose(half, outs[0.05]) and not torch.allclose(half, outs[0.0])
    for variant in ("no_ta", "speech", "text"):
        assert build_model(cfg, variant).prior_weight is None
    assert count_parameters(faded) == count_parameters(build_model(CFG, "tsin"))  # a buffer, not a parameter
    assert CFG.replace(align_anneal=0).legacy_dict() == CFG.legacy_dict()
    for bad in ({"align_anneal": -1}, {"align_anneal": 3, "align_prior": 0.0}):
        with pytest.raises(ValueError, match="align_anneal"):
            TSINConfig.preset("cpu", **bad)


def test_fit_fades_the_prior_and_the_trained_model_keeps_none() -> None:
    cfg = CFG.replace(align_prior=0.05, align_anneal=2, epochs=4)
    store = make_store(cfg)
    set_seed(0)
    model = build_model(cfg, "tsin")
    result = fit(model, store, make_fold(store), cfg, progress=False, log=None)
    assert [h["prior_weight"] for h in result.history] == [1.0, 0.5, 0.0, 0.0]
    assert float(model.prior_weight) == 0.0 and "prior_weight" in model.state_dict()  # saved with the weights
    set_seed(0)
    plain = fit(build_model(CFG, "tsin"), store, make_fold(store), CFG, progress=False, log=None)
    assert "prior_weight" not in plain.history[0]


def test_results_of_renamed_and_retired_fields_are_recognised() -> None:
    now = TSINConfig.preset("cpu")
    old = {k: v for k, v in now.to_dict().items() if k not in ("classifier_dropout", "si_weights")}
    old.update(dropout=now.classifier_dropout, si_norm=now.si_weights, speech_dim=now.speech_dim, num_classes=4,
               enc_dropout=0.0, word_dropout=0.0, speech_aux=0.0, d_attn=0)
    assert config_diff(old, now.to_dict()) == []
    assert config_diff({**old, "dropout": 0.3}, now.to_dict()) == ["classifier_dropout: 0.3 != 0.1"]
    assert config_diff({**old, "speech_aux": 1.0}, now.to_dict()) == ["speech_aux: 1.0 != None"]  # named, not hidden
    # results folders are named by a digest of the preset: recorded before fields were renamed, retired or added
    def digest(cfg: TSINConfig) -> str:
        return hashlib.sha1(json.dumps(cfg.legacy_dict(), sort_keys=True).encode()).hexdigest()[:8]

    # the cpu preset before Eq. 9 as printed, speaker norm, Eq. 11 reading the Eq. 9 weights and Eq. 2's kernel 1
    old_cpu = TSINConfig.preset("cpu", si_pairing="prose", speech_norm="fold", mec_pool="mean", text_kernels=())
    assert {"cpu": digest(old_cpu), "paper": digest(TSINConfig.preset("paper")),
            "tiny": digest(TSINConfig.preset("tiny"))} == {"cpu": "1f19b093", "paper": "3e02cfc2", "tiny": "d84c9f2e"}
    assert digest(TSINConfig.preset("cpu")) != "1f19b093"  # a new behaviour, a new folder


def test_results_saved_before_a_field_existed_still_match() -> None:
    now = TSINConfig.preset("cpu", align_prior=0.0, speech_pool="mean").to_dict()
    old = {k: v for k, v in now.items() if k not in ("align_prior", "speech_pool")}
    assert config_diff(old, now) == []
    assert config_diff(old, {**now, "align_prior": 0.05}) == ["align_prior: 0.0 != 0.05"]


def test_batches_cut_to_their_longest_row_predict_what_the_full_padding_gives() -> None:
    from tsin_nb.train import feature_tensors, predict

    cfg = CFG.replace(speech_pool="mean_std")
    store = make_store(cfg)
    store.speech_mask[:, cfg.n_frames // 2:] = False  # every row ends before the middle: half the frames are cut
    store.text_mask[:, 3:] = False
    set_seed(0)
    model = build_model(cfg, "tsin").eval()
    rows = torch.arange(len(store))
    out = predict(model, feature_tensors(store, torch.device("cpu")), rows, torch.device("cpu"), 8)
    with torch.no_grad():
        full = model(store.speech, store.speech_mask, store.text, store.text_mask)
    np.testing.assert_allclose(out["logits"], full.logits.numpy(), atol=1e-5)
    assert out["alignment"].shape == tuple(full.alignment.shape)  # padded back to the store's widths
    np.testing.assert_allclose(out["alignment"], full.alignment.numpy(), atol=1e-6)
    np.testing.assert_allclose(out["text_weights"], full.text_weights.numpy(), atol=1e-6)


def test_speech_pooled_once_predicts_what_pooling_every_batch_gives() -> None:
    from tsin_nb.train import feature_tensors, pool_once, predict

    cfg = CFG.replace(speech_pool="mean_std")
    store = make_store(cfg)
    store.speech_mask[5] = False  # a row with no real frame at all
    set_seed(0)
    model = build_model(cfg, "tsin").eval()
    raw = feature_tensors(store, torch.device("cpu"))
    pooled, was_pooled = pool_once(model, raw)
    assert was_pooled and pooled[0].shape == (len(store), cfg.n_frames // cfg.speech_stride, 2 * cfg.speech_dim)
    rows = torch.arange(len(store))
    a = predict(model, raw, rows, torch.device("cpu"), 8)
    b = predict(model, pooled, rows, torch.device("cpu"), 8, pooled=True)
    for key in ("logits", "alignment", "speech_weights"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)
    assert pool_once(build_model(cfg, "text"), raw)[1] is False  # nothing to pool without a speech encoder
    every_frame = CFG.replace(speech_stride=1)
    assert pool_once(build_model(every_frame, "tsin"), raw)[1] is False  # identity pooling: no copy


def test_a_changed_preset_trains_into_a_new_results_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from tsin_nb import workbook

    ws = workbook.Workspace(tmp_path, tmp_path / "figures", torch.device("cpu"))
    now = ws.results("cpu", 24)
    assert now.parent == tmp_path / "results" and now.name.startswith("cpu_e24-")
    assert ws.results("cpu", 24, tag="onehot").name == now.name + "_onehot"
    original = TSINConfig.preset.__func__

    def older(cls, name, **changes):  # the `cpu` preset as an earlier version of the package defined it
        cfg = original(cls, name, **changes)
        return cfg.replace(text_dropout=0.5) if name == "cpu" else cfg

    monkeypatch.setattr(TSINConfig, "preset", classmethod(older))
    assert ws.results("cpu", 24) != now  # earlier results are neither reused nor in the way


def test_the_time_warp_starts_as_the_equal_shares_and_keeps_order() -> None:
    """align_warp: the clock's midpoints by hand, the prior's positions at the start, order and range always."""
    g = torch.log(torch.tensor([[1.0, 3.0, 1.0, 5.0]]))  # steps 1, 3, 1; the fourth is padding
    mask = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(TimeWarp.clock(g, mask), torch.tensor([[0.5 / 5, 2.5 / 5, 4.5 / 5, 1.0]]))
    S_mask = torch.arange(12)[None, :] < torch.tensor([12, 7, 1])[:, None]
    T_mask = torch.arange(5)[None, :] < torch.tensor([5, 2, 1])[:, None]
    S, T = torch.randn(3, 12, 16), torch.randn(3, 5, 16)
    for words in (True, False):
        warp = TimeWarp(16, words)
        p, q = warp(S, S_mask, T, T_mask)
        real = S_mask[:, None, :] & T_mask[:, :, None]  # (B, M, N)
        torch.testing.assert_close(diagonal_prior(S_mask, T_mask, 0.05, (p, q))[real],
                                   diagonal_prior(S_mask, T_mask, 0.05)[real])
        with torch.no_grad():
            for lin in (warp.frame, warp.word):
                if lin is not None:
                    lin.weight.normal_(0, 3.0)  # far from the start: steps from e^-6 to e^6
            p, q = warp(S, S_mask, T, T_mask)
        for pos, mask in ((p, S_mask), (q, T_mask)):
            for row, m in zip(pos, mask):
                r = row[m]
                assert (r > 0).all() and (r < 1).all() and (r[1:] > r[:-1]).all()
    assert TimeWarp(16, words=False).word is None
    alpha = torch.randn(3, 5, 12)
    logits = alignment_logits(alpha, S_mask, T_mask, 16, 0.05, None, None, (p, q))  # what Eq. 4's softmax reads
    torch.testing.assert_close(logits, alpha / 4 + diagonal_prior(S_mask, T_mask, 0.05, (p, q)))
    weights = alignment_weights(alpha, S_mask, T_mask, 16, 0.05, positions=(p, q))
    torch.testing.assert_close(weights[0], torch.softmax(logits[0], dim=-1))  # a full row: the plain softmax
    equal = (torch.arange(5)[None, :] + 0.5) / T_mask.sum(dim=1, keepdim=True)  # (j + 1/2) / m
    torch.testing.assert_close(TimeWarp(16, words=False)(S, S_mask, T, T_mask)[1][T_mask], equal[T_mask])


def test_the_time_warp_learns_that_a_pause_is_no_word() -> None:
    """On a toy whose first word follows a long pause, 300 Adam steps of the frames' clock (the window fixed)
    move the attention into the true spans: pauses learn to stand still on the clock."""
    n, m = 16, 2
    spans = torch.zeros(1, m, n)
    spans[0, 0, 6:11], spans[0, 1, 11:16] = 1.0, 1.0  # frames 0-5 are a pause
    pause = torch.zeros(1, n, 4)
    pause[0, :6, 0] = 1.0  # what the frames hold: a pause marker on frames 0-5
    S_mask, T_mask = torch.ones(1, n, dtype=torch.bool), torch.ones(1, m, dtype=torch.bool)
    warp = TimeWarp(4, words=False)

    def inside() -> float:
        with torch.no_grad():
            a = alignment_weights(torch.zeros(1, m, n), S_mask, T_mask, 1, prior=0.1,
                                  positions=warp(pause, S_mask, torch.zeros(1, m, 4), T_mask))
        return float((a * spans).sum() / m)

    before = inside()
    opt = torch.optim.Adam(warp.parameters(), lr=3e-2)
    for _ in range(300):
        a = alignment_weights(torch.zeros(1, m, n), S_mask, T_mask, 1, prior=0.1,
                              positions=warp(pause, S_mask, torch.zeros(1, m, 4), T_mask))
        loss = -torch.log((a * spans).sum(dim=-1) + 1e-9).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before < 0.5 and inside() > 0.85  # 0.42 -> 0.92
    assert warp.frame.weight[0, 0] < -1.0  # the pause marker slows the clock


def test_the_warp_belongs_to_the_aligned_variants_and_is_checked() -> None:
    cfg = CFG.replace(align_warp="both")
    for variant in ("tsin", "no_si"):
        assert build_model(cfg, variant).warp is not None
    for variant in ("no_ta", "speech", "text"):
        assert build_model(cfg, variant).warp is None
    d = CFG.d_model
    assert count_parameters(build_model(cfg, "tsin")) == count_parameters(build_model(CFG, "tsin")) + 2 * (d + 1)
    assert count_parameters(build_model(CFG.replace(align_warp="frames"), "tsin")) == \
        count_parameters(build_model(CFG, "tsin")) + d + 1
    assert CFG.replace(align_warp="none").legacy_dict() == CFG.legacy_dict()  # old results keep their folders
    for bad in ({"align_warp": "words"}, {"align_warp": "frames", "align_prior": 0.0}):
        with pytest.raises(ValueError, match="align_warp"):
            TSINConfig.preset("cpu", **bad)
    TSINConfig.preset("cpu", align_warp="frames", align_prior=0.0, align_local=0.05)  # a learned window will do
    for warp, said in (("none", None), ("frames", "frames"), ("both", "frames and words")):
        c = TSINConfig.preset("cpu", align_warp=warp)
        row = paper_vs_run(c).loc["Eq. 4 window on learned clocks"]
        assert (row["differs"] == "") == (said is None) and (said is None or said in row["this run"])
    store = make_store(cfg)
    set_seed(0)
    model = build_model(cfg, "tsin")
    batch = (store.speech[:4], store.speech_mask[:4], store.text[:4], store.text_mask[:4])
    set_seed(0)
    plain = build_model(CFG, "tsin").eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("warp.")})
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(*batch).alignment, plain(*batch).alignment)  # starts as the prior
    fit(model, store, make_fold(store), cfg.replace(lr=3e-2), progress=False, log=None)
    assert model.warp.frame.weight.abs().sum() > 0 and model.warp.word.weight.abs().sum() > 0  # the loss moved both
