"""Scene bias: does a representation retrieve videos by their action or by their background?

Two measurements (``vssl eval scene-bias``):

**synth** (a cache extracted from ``vssl synth`` data: ``synth.json`` in the
source directory gives each video's background family). In the train split the
family equals the class; in the test split it is another class's family, so
there the background and the action disagree. On the test videos:

* leave-one-out retrieval among the test videos: ``action_R@1`` = the nearest
  other test video has the query's class; ``background_R@1`` = it has the
  query's background family; ``chance_action`` / ``chance_background`` = the
  same rates for a random neighbour; ``scene_bias = background_R@1 -
  chance_background`` (0 for a motion-only representation, up to
  ``1 - chance`` for a scene-only one); ``bg_not_action`` = share of nearest
  neighbours with the same background but another action.
* test -> train retrieval (the usual protocol): ``train/action_R@1`` = the
  nearest train video has the query's class; ``train/background_R@1`` = it has
  the query's background family, i.e. the class whose background the query
  borrowed (train family == class).

**swap** (any labelled cache; the only mode without ``synth.json``): each test
video ``A`` gets a partner ``B`` of another class (a fixed random draw). For
clip ``c`` of ``A`` a foreground mask ``m`` is made (FAME: the precomputed
scores of ``CACHE/fame`` when present, else computed online from the clip) and
the swapped clip ``m * A_c + (1 - m) * bg(B_c)`` keeps A's moving foreground on
B's background. ``bg`` is the per-pixel temporal median of B's clip (a static
scene with B's moving objects mostly removed, so that B contributes its scene
and not its motion; ``background="clip"`` pastes B's frames as FAME does).
With ``s`` its feature and ``a``, ``b`` the video features of A and
B: ``swap/background_follow`` = share of swapped clips with ``cos(s, b) >
cos(s, a)`` (0.5 when neither dominates; high = scene-biased);
``swap/nn_action`` / ``swap/nn_background`` = the nearest test video has A's /
B's class.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vssl.data.clips import EvalClips, make_loader
from vssl.data.frames import crop_offsets, resize_short, spatial_crops
from vssl.errors import InputError
from vssl.eval.features import autocast, prepare_model, to_model_input
from vssl.eval.session import EvalSession
from vssl.utils.progress import Progress

MODES = ("auto", "synth", "swap", "both")
SYNTH_META = "synth.json"


@dataclass
class SceneBiasOptions:
    mode: str = "auto"  # auto: synth when synth.json is found, else swap
    beta: float = 0.5  # foreground fraction of the FAME mask (swap)
    masks: str = "auto"  # auto | precomputed | online (swap)
    swap_clips: int | None = None  # clips per test video for the swap (default: the feature clips)
    background: str = "median"  # swap: median (B's static scene) | clip (B's frames, as FAME merges)
    tsne: bool = True


# --------------------------------------------------------------------------- metrics (pure)


def _nearest(query: np.ndarray, gallery: np.ndarray, *, exclude_self: bool) -> np.ndarray:
    from vssl.eval.retrieval import topk_neighbours

    _, idx = topk_neighbours(query, gallery, 1, exclude_self=exclude_self)
    return idx[:, 0].cpu().numpy()


def chance_same(labels: np.ndarray) -> float:
    """Probability that a random *other* item shares the query's label, averaged over queries."""
    y = np.asarray(labels)
    n = len(y)
    if n < 2:
        return float("nan")
    _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    return float(np.mean((counts[inv] - 1) / (n - 1)))


def loo_scene_metrics(feats: np.ndarray, labels: np.ndarray, backgrounds: np.ndarray) -> dict[str, float]:
    """Leave-one-out nearest neighbour among ``feats`` (V, D): action vs background agreement.

    Returns ``action_R@1``, ``background_R@1``, ``chance_action``,
    ``chance_background``, ``scene_bias`` and ``bg_not_action`` (see the module docstring).
    """
    y, g = np.asarray(labels), np.asarray(backgrounds)
    if len(y) < 2:
        raise InputError("scene bias needs at least 2 test videos")
    nn_ = _nearest(feats, feats, exclude_self=True)
    act, bg = y[nn_] == y, g[nn_] == g
    ca, cb = chance_same(y), chance_same(g)
    return {"action_R@1": float(act.mean()), "background_R@1": float(bg.mean()), "chance_action": ca,
            "chance_background": cb, "scene_bias": float(bg.mean()) - cb, "bg_not_action": float((bg & ~act).mean())}


def train_gallery_metrics(test_feats, test_labels, test_bgs, train_feats, train_labels, train_bgs) -> dict[str, float]:
    """Nearest train video of each test video: same class (``train/action_R@1``) or same background family."""
    nn_ = _nearest(test_feats, train_feats, exclude_self=False)
    tl, tb = np.asarray(train_labels), np.asarray(train_bgs)
    return {"train/action_R@1": float((tl[nn_] == np.asarray(test_labels)).mean()),
            "train/background_R@1": float((tb[nn_] == np.asarray(test_bgs)).mean())}


def swap_partners(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each video a partner of another class (uniform, fixed by ``seed``)."""
    y = np.asarray(labels)
    if len(np.unique(y)) < 2:
        raise InputError("the background swap needs test videos of at least 2 classes")
    rng = np.random.default_rng([seed, 0x5CE4E])
    out = np.empty(len(y), np.int64)
    for i, c in enumerate(y):
        others = np.flatnonzero(y != c)
        out[i] = others[rng.integers(len(others))]
    return out


def swap_metrics(swap_feats: np.ndarray, action_idx: np.ndarray, background_idx: np.ndarray,
                 video_feats: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Where swapped clips land: nearer the background video or the action video (see the module docstring)."""
    s = torch.nn.functional.normalize(torch.as_tensor(swap_feats, dtype=torch.float32), dim=1)
    v = torch.nn.functional.normalize(torch.as_tensor(video_feats, dtype=torch.float32), dim=1)
    sim_a = (s * v[torch.as_tensor(action_idx)]).sum(1)
    sim_b = (s * v[torch.as_tensor(background_idx)]).sum(1)
    nn_ = _nearest(swap_feats, video_feats, exclude_self=False)
    y = np.asarray(labels)
    follow = (sim_b > sim_a).float() + 0.5 * (sim_b == sim_a).float()
    return {"swap/background_follow": float(follow.mean()),
            "swap/nn_action": float((y[nn_] == y[action_idx]).mean()),
            "swap/nn_background": float((y[nn_] == y[background_idx]).mean()),
            "swap/sim_action": float(sim_a.mean()), "swap/sim_background": float(sim_b.mean())}


# --------------------------------------------------------------------------- synth


def synth_meta(cache) -> dict | None:
    """The ``synth.json`` of the cache's source directory (``manifest["input"]``), or None."""
    src = cache.manifest.get("input")
    if not src:
        return None
    p = Path(src) / SYNTH_META
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        raise InputError(f"cannot read {p}") from None


def background_of(meta: dict, video_ids: list[str]) -> np.ndarray:
    """Background family per video id (the synth record's ``path`` is the cache id)."""
    fam = {r["path"]: int(r["background_family"]) for r in meta.get("videos", [])}
    missing = [v for v in video_ids if v not in fam]
    if missing:
        raise InputError(f"{len(missing)} videos are not in synth.json (e.g. '{missing[0]}'): "
                         "was the cache extracted from this synth directory?")
    return np.asarray([fam[v] for v in video_ids], np.int64)


# --------------------------------------------------------------------------- swap


class _SwapPairs(torch.utils.data.Dataset):
    """Item = (action clip, background clip, cached score or empty) for pair ``i // clips``, clip ``i % clips``."""

    def __init__(self, clips: EvalClips, action: np.ndarray, background: np.ndarray, fame_cache):
        self.clips, self.action, self.background, self.fame = clips, action, background, fame_cache

    def __len__(self) -> int:
        return len(self.action) * self.clips.opts.clips

    def _score(self, vi: int, t0: int) -> np.ndarray:
        o = self.clips.opts
        v = self.clips.videos[vi]
        sc = self.fame.read_score(v.id, t0)  # (Hs, Ws) at the cached frame's field of view
        import cv2

        sc = cv2.resize(sc, (v.stored_width, v.stored_height), interpolation=cv2.INTER_LINEAR)
        sc = resize_short(sc[..., None], o.resize)[..., 0]
        y, x = crop_offsets(sc.shape[0], sc.shape[1], o.crop, 1)[0]
        return sc[y:y + o.crop, x:x + o.crop].astype(np.float32)

    def __getitem__(self, i: int) -> dict[str, Any]:
        o = self.clips.opts
        p, c = divmod(int(i), o.clips)
        a, b = int(self.action[p]), int(self.background[p])
        ta, tb = int(self.clips.starts[a][c]), int(self.clips.starts[b][c])
        fa = spatial_crops(self.clips.frames(a, ta), o.crop, 1)[0]  # the centre crop
        fb = spatial_crops(self.clips.frames(b, tb), o.crop, 1)[0]
        out = {"a": fa, "b": fb, "pair": p}
        out["score"] = self._score(a, ta) if self.fame is not None else np.zeros((0,), np.float32)
        return out


def _open_fame(cache_root: Path, masks: str, video_ids: list[str]):
    """The precomputed FAME scores if wanted and usable, else None (online masks)."""
    if masks == "online":
        return None
    from vssl.io import schema

    have = (Path(cache_root) / "fame" / schema.MANIFEST).is_file()
    if not have:
        if masks == "precomputed":
            raise InputError(f"no precomputed FAME masks in {cache_root}: run `vssl precompute fame {cache_root}` "
                             "or use --masks online")
        return None
    from vssl.io.precomputed import PrecomputeCache

    pc = PrecomputeCache(cache_root, "fame")
    missing = [v for v in video_ids if v not in pc]
    if missing:
        if masks == "precomputed":
            raise InputError(f"{len(missing)} test videos have no precomputed FAME masks (e.g. '{missing[0]}')")
        return None
    return pc


@torch.inference_mode()
def swapped_features(session: EvalSession, action: np.ndarray, background: np.ndarray, *, clips: int, beta: float,
                     masks: str, bg_mode: str = "median") -> tuple[np.ndarray, np.ndarray, str]:
    """Features of the background-swapped clips: ``(feats (P * clips, D), pair index (P * clips,), mask source)``."""
    from vssl.ops.fame import fame_mask, mask_from_score

    vids = session.videos("test")
    ids = [v.id for v in vids]
    opts = replace(session.cfg.features, clips=clips, crops=1)
    ds = EvalClips(session.cache.root, ids, opts)
    fame = _open_fame(session.cache.root, masks, ids)
    pairs = _SwapPairs(ds, action, background, fame)
    rt = session.cfg.runtime
    dev = rt.torch_device()
    loader = make_loader(pairs, rt.batch_size, rt.workers, dev)
    model = prepare_model(session.model, dev)
    feats, pidx = [], []
    with Progress("swapped clips", len(pairs), enabled=rt.progress) as bar:
        for batch in loader:
            a = batch["a"].to(dev).permute(0, 4, 1, 2, 3).float().div_(255.0)  # (B, 3, T, S, S) in [0, 1]
            b = batch["b"].to(dev).permute(0, 4, 1, 2, 3).float().div_(255.0)
            if fame is not None:
                m = mask_from_score(batch["score"].to(dev), beta)  # (B, 1, S, S)
            else:
                m = fame_mask(a, beta=beta)
            if bg_mode == "median":
                b = b.median(dim=2, keepdim=True).values  # (B, 3, 1, S, S): the static scene of B
            merged = m[:, :, None] * a + (1 - m[:, :, None]) * b
            u8 = merged.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1)
            x = to_model_input(u8, opts.mean_std, dev, opts.input)
            with autocast(dev, rt.amp):
                f = model(x)
            feats.append(f.float().cpu())
            pidx.append(batch["pair"])
            bar.advance(len(batch["pair"]))
    return torch.cat(feats).numpy(), torch.cat(pidx).numpy(), "precomputed" if fame is not None else "online"


# --------------------------------------------------------------------------- runner


def run_scene_bias(session: EvalSession, opts: SceneBiasOptions | None = None) -> dict[str, Any]:
    """Measure scene bias (see the module docstring); writes metrics and ``tsne_background.png`` (synth)."""
    from vssl.eval.protocols import write_results

    opts = opts or SceneBiasOptions()
    if opts.mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)} (got '{opts.mode}')")
    if opts.masks not in ("auto", "precomputed", "online"):
        raise InputError(f"--masks must be auto, precomputed or online (got '{opts.masks}')")
    if opts.background not in ("median", "clip"):
        raise InputError(f"--background must be median or clip (got '{opts.background}')")
    if not 0.0 < opts.beta < 1.0:
        raise InputError(f"--beta must be in (0, 1) (got {opts.beta})")
    meta = synth_meta(session.cache)
    mode = opts.mode
    if mode == "auto":
        mode = "synth" if meta is not None else "swap"
    if mode in ("synth", "both") and meta is None:
        raise InputError(f"--mode {mode} needs a cache extracted from `vssl synth` data ({SYNTH_META} in "
                         f"{session.cache.manifest.get('input')}); use --mode swap")
    session.require("test", *(("train",) if mode in ("synth", "both") else ()))
    t0 = time.perf_counter()
    test = session.features("test")
    vfeat = test.video_feats()
    metrics: dict[str, float] = {}
    figures: list[str] = []
    extra: dict[str, Any] = {}
    if mode in ("synth", "both"):
        train = session.features("train")
        bg_test = background_of(meta, test.video_ids)
        bg_train = background_of(meta, train.video_ids)
        metrics.update(loo_scene_metrics(vfeat, test.labels, bg_test))
        metrics.update(train_gallery_metrics(vfeat, test.labels, bg_test, train.video_feats(), train.labels,
                                             bg_train))
        extra["backgrounds"] = list(meta.get("background_families") or [])
        if opts.tsne:
            from vssl.eval.plots import plot_embedding
            from vssl.eval.protocols import _EMB, embedding_method

            method = embedding_method(test.n_videos)
            figures.append(str(plot_embedding(vfeat, bg_test, extra["backgrounds"] or None,
                                              session.out / "tsne_background.png", seed=session.cfg.seed,
                                              method=method,
                                              title=f"{_EMB[method]} of {test.n_videos} test videos (by background)")))
    if mode in ("swap", "both"):
        action = np.arange(test.n_videos)
        background = swap_partners(test.labels, session.cfg.seed)
        clips = opts.swap_clips or session.cfg.features.clips
        sf, pair, source = swapped_features(session, action, background, clips=clips, beta=opts.beta,
                                            masks=opts.masks, bg_mode=opts.background)
        metrics.update(swap_metrics(sf, action[pair], background[pair], vfeat, test.labels))
        extra["swap"] = {"pairs": int(test.n_videos), "clips_per_pair": clips, "masks": source, "beta": opts.beta,
                         "background": opts.background}
    result = {
        "metrics": metrics,
        "mode": mode,
        "options": {**asdict(opts), **asdict(session.cfg.features), "split": session.split},
        "test_videos": test.n_videos,
        "seconds": time.perf_counter() - t0,
        "figures": figures,
        **extra,
    }
    write_results(session, "scene_bias", result)
    return result
