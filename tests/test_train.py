"""fit(): outputs, seeded determinism, exact resume, no test leakage, clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tsin_nb.core import TSINConfig, get_device
from tsin_nb.features import FeatureStore
from tsin_nb.model import build_model
from tsin_nb.runs import Fold
from tsin_nb.train import CHECKPOINT, FitResult, fit, load_checkpoint

CFG = TSINConfig.preset("tiny", epochs=3, batch_size=8, classifier_dropout=0.1)
N_UTT = 48


pytestmark = pytest.mark.usefixtures("one_thread")


def make_store(cfg: TSINConfig = CFG, n: int = N_UTT, seed: int = 0) -> FeatureStore:
    """Random features with a weak class signal; speech[i, 0, 0] holds the row number i as a marker."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4  # (U,)
    speech = torch.randn(n, cfg.n_frames, cfg.speech_dim, generator=g) + 0.3 * labels[:, None, None]
    text = torch.randn(n, cfg.n_words, cfg.text_dim, generator=g) - 0.3 * labels[:, None, None]
    speech[:, 0, 0] = torch.arange(n, dtype=torch.float32)
    s_len = torch.randint(4, cfg.n_frames + 1, (n,), generator=g)
    t_len = torch.randint(1, cfg.n_words + 1, (n,), generator=g)
    speech_mask = torch.arange(cfg.n_frames)[None, :] < s_len[:, None]  # (U, N)
    text_mask = torch.arange(cfg.n_words)[None, :] < t_len[:, None]  # (U, M)
    ids = [f"utt{i:03d}" for i in range(n)]
    words = [[f"w{j}" for j in range(int(k))] for k in t_len]
    return FeatureStore(ids, speech, speech_mask, text, text_mask, labels, words, [None] * n,
                        {"n_frames": cfg.n_frames, "n_words": cfg.n_words})


def make_fold(store: FeatureStore) -> Fold:
    """32 train, 8 val, 8 test; every part holds all four classes."""
    ids = store.ids
    return Fold("Fold1", "SesI", train=ids[:32], val=ids[32:40], test=ids[40:])


def run(cfg: TSINConfig = CFG, variant: str = "tsin", seed: int = 0, **kw) -> FitResult:
    torch.manual_seed(seed)
    store = kw.pop("store", None) or make_store(cfg)
    fold = kw.pop("fold", None) or make_fold(store)
    kw.setdefault("log", None)
    return fit(build_model(cfg, variant), store, fold, cfg, progress=False, **kw)


def strip_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


def assert_same_run(a: FitResult, b: FitResult) -> None:
    assert strip_time(a.history) == strip_time(b.history)
    assert a.metrics["wa"] == b.metrics["wa"] and a.metrics["ua"] == b.metrics["ua"]
    assert np.array_equal(a.metrics["confusion"], b.metrics["confusion"])
    assert np.array_equal(a.probs, b.probs) and np.array_equal(a.embeddings, b.embeddings)
    assert a.selected_epoch == b.selected_epoch


# ------------------------------------------------------------ outputs ---


@pytest.mark.parametrize("variant", ["tsin", "speech"])
def test_fit_returns_test_outputs(variant: str) -> None:
    r = run(variant=variant)
    n_test, m = 8, CFG.n_words
    assert r.ids == make_fold(make_store()).test and r.metrics["n_test"] == n_test
    assert r.probs.shape == (n_test, 4) and np.allclose(r.probs.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(r.preds, r.probs.argmax(axis=1))
    assert r.metrics["confusion"].sum() == n_test
    assert r.metrics["wa"] == pytest.approx(float((r.preds == r.labels).mean()))
    assert r.word_mask.shape == (n_test, m) and r.word_mask.dtype == bool
    assert [h["epoch"] for h in r.history] == [1, 2, 3] and r.finished and r.device == str(get_device("auto"))
    if variant == "tsin":
        assert r.embeddings.shape == (n_test, CFG.d_fusion)
        assert r.alignments.shape == (n_test, m, CFG.n_frames // CFG.speech_stride)
        assert r.speech_weights.shape == r.text_weights.shape == (n_test, m)
    else:
        assert r.embeddings.shape == (n_test, CFG.d_model)
        assert r.alignments is None and r.speech_weights is None and r.text_weights is None


def test_lr_follows_step_schedule() -> None:
    cfg = CFG.replace(epochs=4, lr=1e-2, lr_step=2, lr_gamma=0.1)
    lrs = [h["lr"] for h in run(cfg).history]
    assert lrs == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])


def test_two_seeded_runs_are_identical() -> None:
    assert_same_run(run(), run())


# ------------------------------------------------------------- resume ---


class Interrupt(Exception):
    pass


def interrupt_after(epoch: int):
    def log(msg: str) -> None:
        if f"epoch {epoch:>3}/" in msg:
            raise Interrupt(msg)
    return log


@pytest.mark.parametrize("select", ["last", "val"])
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path: Path, select: str) -> None:
    cfg = CFG.replace(epochs=4, select=select)
    full = run(cfg, out_dir=tmp_path / "full")
    with pytest.raises(Interrupt):
        run(cfg, out_dir=tmp_path / "cut", log=interrupt_after(2))
    assert load_checkpoint(tmp_path / "cut" / CHECKPOINT)["epoch"] == 2
    # another init seed: the resumed weights must come from the checkpoint, not from the new model
    resumed = run(cfg, seed=123, out_dir=tmp_path / "cut", resume=True)
    assert_same_run(full, resumed)
    assert resumed.epochs == 4 and resumed.finished


def test_resume_in_chunks_with_max_epochs_this_call(tmp_path: Path) -> None:
    cfg = CFG.replace(epochs=4)
    full = run(cfg)
    part = run(cfg, out_dir=tmp_path, max_epochs_this_call=1)
    assert not part.finished and part.epochs == 1
    part = run(cfg, out_dir=tmp_path, resume=True, max_epochs_this_call=2)
    assert part.epochs == 3
    assert_same_run(full, run(cfg, out_dir=tmp_path, resume=True))


def test_resume_of_finished_run_only_evaluates(tmp_path: Path) -> None:
    first = run(out_dir=tmp_path)
    again = run(seed=5, out_dir=tmp_path, resume=True)
    assert_same_run(first, again)


def test_checkpoint_holds_only_tensors_and_plain_types(tmp_path: Path) -> None:
    run(out_dir=tmp_path)
    ck = torch.load(tmp_path / CHECKPOINT, map_location="cpu", weights_only=True)
    assert ck["epoch"] == CFG.epochs and ck["variant"] == "tsin" and ck["config"] == CFG.to_dict()
    assert {"model", "optimizer", "scheduler", "generator", "rng", "history", "fold"} <= set(ck)
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_refuses_another_config_or_variant(tmp_path: Path) -> None:
    run(out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"lr: 0\.01 != 0\.02"):
        run(CFG.replace(lr=2e-2), out_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="variant: 'tsin' != 'no_si'"):
        run(variant="no_si", out_dir=tmp_path, resume=True)
    store = make_store()
    other = Fold("Fold2", "SesI", train=store.ids[:32], val=store.ids[32:40], test=store.ids[40:])
    with pytest.raises(ValueError, match="fold: 'Fold1' != 'Fold2'"):
        run(out_dir=tmp_path, resume=True, store=store, fold=other)


# ---------------------------------------------------- no test leakage ---


class Spy(nn.Module):
    """Wraps a model and records, per forward call, the store rows (from the marker) and the mode."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.cfg, self.variant = inner, inner.cfg, inner.variant
        self.calls: list[tuple[bool, set[int]]] = []

    def forward(self, speech, speech_mask, text, text_mask):
        self.calls.append((self.training, set(speech[:, 0, 0].round().long().tolist())))
        return self.inner(speech, speech_mask, text, text_mask)


@pytest.mark.parametrize("select", ["last", "val"])
def test_test_ids_never_reach_training_or_selection(select: str) -> None:
    cfg = CFG.replace(select=select)
    store = make_store()
    fold = make_fold(store)
    train, val, test = (set(store.index(p).tolist()) for p in (fold.train, fold.val, fold.test))
    torch.manual_seed(0)
    spy = Spy(build_model(cfg, "tsin"))
    r = fit(spy, store, fold, cfg, progress=False, log=None)
    train_calls = [rows for training, rows in spy.calls if training]
    assert set().union(*train_calls) == train  # every training row used, nothing else
    touches_test = [i for i, (_, rows) in enumerate(spy.calls) if rows & test]
    first_test = touches_test[0]
    # the test rows are seen once, in eval mode, after all training and validation
    assert all(not spy.calls[i][0] and spy.calls[i][1] <= test for i in touches_test)
    assert set().union(*(spy.calls[i][1] for i in touches_test)) == test
    assert touches_test == list(range(first_test, len(spy.calls)))
    assert set().union(*(rows for _, rows in spy.calls[:first_test])) <= train | val
    if select == "val":
        ua = [h["val_ua"] for h in r.history]
        assert r.selected_epoch == 1 + int(np.argmax(ua))


def test_fold_overlap_is_refused() -> None:
    store = make_store()
    leaky = Fold("Leaky", "SesI", train=store.ids[:41], val=store.ids[41:44], test=store.ids[40:])
    with pytest.raises(ValueError, match="1 ids are in both train and test.*utt040"):
        run(store=store, fold=leaky)
    leaky_val = Fold("Leaky", "SesI", train=store.ids[:32], val=store.ids[32:42], test=store.ids[40:])
    with pytest.raises(ValueError, match="2 ids are in both val and test"):
        run(store=store, fold=leaky_val)


# ---------------------------------------------------------- bad input ---


def test_store_config_mismatch_names_the_setting() -> None:
    store = make_store()
    with pytest.raises(ValueError, match="n_words: store has 8, config has 9"):
        run(CFG.replace(n_words=9), store=store)


def test_empty_parts_are_refused() -> None:
    store = make_store()
    with pytest.raises(ValueError, match="empty train part"):
        run(store=store, fold=Fold("F", "SesI", train=[], val=store.ids[:8], test=store.ids[8:]))
    with pytest.raises(ValueError, match="empty test part"):
        run(store=store, fold=Fold("F", "SesI", train=store.ids[:40], val=store.ids[40:], test=[]))
    with pytest.raises(ValueError, match="select='val' needs validation ids"):
        run(CFG.replace(select="val"), store=store,
            fold=Fold("F", "SesI", train=store.ids[:40], val=[], test=store.ids[40:]))


def test_training_part_missing_a_class_is_named() -> None:
    store = make_store()
    no_sad = [u for u, y in zip(store.ids[:40], store.labels[:40].tolist()) if y != 2]
    with pytest.raises(ValueError, match="no samples of class sad"):
        run(store=store, fold=Fold("F", "SesI", train=no_sad, val=[], test=store.ids[40:]))


def test_fold_ids_missing_from_store_are_named() -> None:
    store = make_store()
    fold = Fold("F", "SesI", train=store.ids[:32] + ["ghost01"], val=[], test=store.ids[40:])
    with pytest.raises(ValueError, match=r"1 train ids are not in the feature store, e.g. \['ghost01'\]"):
        run(store=store, fold=fold)


def test_model_built_with_another_config_is_refused() -> None:
    store = make_store()
    model = build_model(CFG.replace(d_model=20), "tsin")
    with pytest.raises(ValueError, match="d_model: 20 != 16"):
        fit(model, store, make_fold(store), CFG, progress=False, log=None)


def test_resume_needs_out_dir() -> None:
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        run(resume=True)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_with_bf16_autocast(tmp_path: Path) -> None:
    r = run(device="cuda", out_dir=tmp_path)
    assert r.device.startswith("cuda") and np.isfinite(r.probs).all()
    resumed = run(device="cuda", out_dir=tmp_path, resume=True)
    assert resumed.metrics["n_test"] == r.metrics["n_test"]


# ------------------------------------------------- once per store, not per fit ---


def test_frames_are_pooled_once_per_store_and_every_fit_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from tsin_nb.train import batches

    pooled: list[int] = []
    real = batches.pool_once
    monkeypatch.setattr(batches, "pool_once", lambda model, data: (pooled.append(1), real(model, data))[1])
    store = make_store()
    first, second = run(store=store), run(store=store)  # the second fit finds the pooled frames on the store
    assert len(pooled) == 1
    assert_same_run(second, first)
    assert_same_run(first, run(store=make_store()))  # as a fit on a store of its own (pooled there: 2)
    run(variant="speech", store=store)  # the same pooling: kept
    assert len(pooled) == 2
    run(CFG.replace(speech_stride=4), store=store)  # another pooling: its own entry
    assert len(pooled) == 3
    store.speech.add_(1.0)  # features changed in place: pooled anew, and the fit sees the change
    changed = run(store=store)
    assert len(pooled) == 4
    fresh = make_store()
    fresh.speech.add_(1.0)
    assert_same_run(changed, run(store=fresh))
