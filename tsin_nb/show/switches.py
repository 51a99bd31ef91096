"""One description per alignment switch beyond the paper, for every place that names the switches.

The attention panel's title (:func:`tsin_nb.show.attention_title`), the temporal-alignment box of the
architecture diagram and the README's list of the run's choices each say which of these acted on Eqs. 3-5,
in their own length. Each switch's three wordings live side by side here, so a new switch is described once.
A description reads a config as a mapping (``TSINConfig.to_dict()`` or a ``metrics.json`` config, where a
field written before it existed is missing and means off).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tsin_nb.core import TSINConfig

Describe = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Switch:
    """When a switch is on, and what each place says of it (None: that place does not name it)."""

    on: Callable[[Mapping[str, Any]], bool]
    title: Describe | None  # a phrase after "learned scores + " in the alignment panel's title
    diagram: Describe | None  # one short line of the diagram's temporal-alignment box
    report: Describe | None  # a phrase of the README's list of the run's departures from the paper


def _fade(c: Mapping[str, Any], text: str) -> str:
    """``text`` with the prior's fading epochs put in, or "" when the prior is not faded (``align_anneal``)."""
    return text.format(n=c["align_anneal"]) if c.get("align_anneal") else ""


def _warp(c: Mapping[str, Any]) -> str:
    return "frames and words" if c.get("align_warp") == "both" else "frames"


#: The switches of ``TSINConfig`` that act on Eqs. 3-5, their training or the "w/o TA" segments, in the order every
#: place lists them.
ALIGNMENT_SWITCHES: dict[str, Switch] = {
    "align_prior": Switch(
        on=lambda c: c.get("align_prior", 0) > 0,
        title=lambda c: f"word-order prior (σ={c['align_prior']:g}{_fade(c, ', faded out over {n} epochs')})",
        diagram=lambda c: f"+ word-order prior σ={c['align_prior']:g}" + _fade(c, ", faded"),
        report=lambda c: f"a word-order prior on Eq. 4 (beyond the paper, spread {c['align_prior']:g})"
                         + _fade(c, " faded out over the first {n} epochs of training"),
    ),
    "align_local": Switch(
        on=lambda c: c.get("align_local", 0) > 0,
        title=lambda c: "word-order window of learned width",
        diagram=lambda c: f"+ window, learned σ from {c['align_local']:g}",
        report=lambda c: f"a word-order window on Eq. 4 whose width is learned (beyond the paper, from {c['align_local']:g})",
    ),
    "align_warp": Switch(
        on=lambda c: c.get("align_warp", "none") != "none",
        title=lambda c: "learned clocks",
        diagram=lambda c: "+ learned clock" + (" (frames, words)" if c["align_warp"] == "both" else " (frames)"),
        report=lambda c: f"the word-order window's {_warp(c)} placed on learned clocks (beyond the paper)",
    ),
    "align_pos": Switch(
        on=lambda c: c.get("align_pos", 0) > 0,
        title=lambda c: "learned position score",
        diagram=lambda c: "+ learned position score",
        report=lambda c: f"a learned position score in Eq. 3 ({c['align_pos']} Fourier features, beyond the paper)",
    ),
    "align_nce": Switch(
        on=lambda c: c.get("align_nce", 0) > 0,
        title=lambda c: "word-match loss",
        diagram=lambda c: f"+ word-match loss ×{c['align_nce']:g}",
        report=lambda c: f"a word-match loss of weight {c['align_nce']:g} on Eq. 5's speech contexts (beyond the paper)",
    ),
    "align_ctc": Switch(
        on=lambda c: c.get("align_ctc", 0) > 0,
        title=lambda c: "forward-sum loss",
        diagram=lambda c: f"+ forward-sum loss ×{c['align_ctc']:g}",
        report=lambda c: f"a forward-sum (CTC) loss of weight {c['align_ctc']:g} on Eq. 4's scores, the words in order"
                         + (", training the position score only" if c.get("align_ctc_detach") else "")
                         + (f", alone for {c['align_ctc_warmup']} epochs first" if c.get("align_ctc_warmup") else "")
                         + " (beyond the paper)",
    ),
    "align_temp": Switch(
        on=lambda c: c.get("align_temp", 1.0) != 1.0,
        title=lambda c: f"temperature {c['align_temp']:g}",
        diagram=lambda c: f"+ temperature {c['align_temp']:g}",
        report=lambda c: f"Eq. 4's softmax at temperature {c['align_temp']:g} (beyond the paper)",
    ),
    "align_loss": Switch(  # a training loss on the true spans: the run's choices name it, the model's pictures do not
        on=lambda c: c.get("align_loss", 0) > 0,
        title=None,
        diagram=None,
        report=lambda c: f"an alignment loss of weight {c['align_loss']:g} (beyond the paper)",
    ),
    "ta_spans": Switch(  # acts on "w/o TA" only, whose pictures show its fixed segments
        on=lambda c: bool(c.get("ta_spans", False)),
        title=None,
        diagram=None,
        report=lambda c: "\"w/o TA\" pooling each word's true span from the word timings instead of an equal segment "
                         "(beyond the paper: what a perfect alignment gives)",
    ),
}


def describe_switches(cfg: TSINConfig | Mapping[str, Any], where: Literal["title", "diagram", "report"]) -> list[str]:
    """What ``where`` says of each alignment switch that is on in ``cfg``, in :data:`ALIGNMENT_SWITCHES`' order."""
    c = cfg.to_dict() if isinstance(cfg, TSINConfig) else cfg
    said = [getattr(s, where) for s in ALIGNMENT_SWITCHES.values() if s.on(c)]
    return [describe(c) for describe in said if describe is not None]
