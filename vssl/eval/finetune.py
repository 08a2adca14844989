"""Full finetuning: the whole backbone plus a linear head, trained on the train split with labels.

Training clips: one random ``clip_len``-frame clip per video and step (start
drawn from ``(seed, epoch, video)``), frames resized to cover ``resize`` x
``round(resize * 4 / 3)`` and centre-cropped to it (the usual 128 x 171 load
size), then on the device a random resized crop to ``crop`` (scale
``(min_scale, 1)``, ratio 3/4..4/3) and a horizontal flip, identical over the
frames of a clip (:class:`vssl.data.transforms.ClipAugment` with colour
jitter, grayscale and blur off). SGD with momentum, linear warm-up then cosine
decay, dropout before the head, bf16 autocast on CUDA.

``loss`` other than ``"ce"`` (``supcon``, ``kcl``, ``tsc``): the backbone learns from a supervised
contrastive loss on two augmented views of each clip, the head from cross-entropy on detached
features (:mod:`vssl.eval.supcon`). ``long_tail`` = IMB subsamples the train split to imbalance
ratio IMB (:func:`long_tail_subset`); the test split stays as it is.

Test: ``test_clips`` evenly spaced clips x 3 crops per test video (the
features' geometry: short side ``resize``, crops of ``crop``), softmax
averaged per video; top-1 / top-5.

Resumable: ``EVAL_DIR/finetune/checkpoint.pt`` is written atomically every
``save_every`` steps, at the end of every epoch and, after the step in progress, on
SIGTERM / SIGINT / SIGUSR1 (:class:`vssl.errors.Stopped`, exit 75 / 130); rerunning the
same command continues from it (same data order: the epoch permutation is fixed
by the seed). Changed options refuse to resume unless ``force`` (start over).
``max_steps`` stops early (tests, smoke runs) without changing the schedule.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from vssl.signals import StopRequest
from torch import Tensor, nn

from vssl.errors import InputError, TrainingError
from vssl.data.clips import EvalClips, TrainClips, make_loader
from vssl.data.frames import load_size
from vssl.data.sampling import EpochBatchSampler, fit_batch_size
from vssl.eval.features import autocast, prepare_model, to_model_input
from vssl.eval.session import EvalSession
from vssl.utils.progress import Progress
from vssl.train.optim import lr_factor
from vssl.train.steps import Position, run_steps

CHECKPOINT = "checkpoint.pt"


@dataclass
class FinetuneOptions:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    wd: float = 5e-4
    warmup_epochs: float = 1.0
    dropout: float = 0.5
    min_scale: float = 0.2  # random resized crop scale range (min_scale, 1)
    layer_decay: float = 1.0  # layer-wise lr decay of ViT backbones (VideoMAE finetunes with 0.75); 1 = off
    drop_path: float = 0.0  # stochastic depth of ViT backbones during finetuning (VideoMAE: 0.1); 0 = off
    test_clips: int | None = None  # default: the features' clips (10)
    test_crops: int = 3
    save_every: int = 500  # steps between checkpoints (and every epoch end)
    max_steps: int | None = None  # stop after this many steps in total (not part of the schedule)
    loss: str = "ce"  # ce | supcon | kcl | tsc (vssl.eval.supcon)
    long_tail: float | None = None  # imbalance ratio of the subsampled train split (long_tail_subset); None = all
    kcl_k: int = 6  # KCL / TSC: same-class queue keys drawn as positives
    tsc_weight: float = 0.2  # TSC: weight of the target term (reference README: --tw 0.2)
    queue_size: int = 65536  # contrastive losses: labelled keys kept
    temperature: float = 0.07  # contrastive losses
    tsc_target_steps: int = 10_000  # TSC: Adam steps of the target generation (reference; tests use fewer)

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        if self.lr <= 0 or self.wd < 0 or not 0 <= self.momentum < 1:
            raise InputError(f"need lr > 0, wd >= 0, 0 <= momentum < 1 (got {self.lr}, {self.wd}, {self.momentum})")
        if not 0 <= self.dropout < 1:
            raise InputError(f"--dropout must be in [0, 1) (got {self.dropout})")
        if not 0 < self.min_scale <= 1:
            raise InputError(f"--min-scale must be in (0, 1] (got {self.min_scale})")
        if not 0 < self.layer_decay <= 1:
            raise InputError(f"--layer-decay must be in (0, 1] (got {self.layer_decay})")
        if not 0 <= self.drop_path < 1:
            raise InputError(f"--drop-path must be in [0, 1) (got {self.drop_path})")
        if self.test_crops not in (1, 3):
            raise InputError(f"--test-crops must be 1 or 3 (got {self.test_crops})")
        if self.max_steps is not None and self.max_steps < 0:
            raise InputError(f"--max-steps must be >= 0 (got {self.max_steps})")
        from vssl.eval.supcon import LOSSES

        if self.loss not in LOSSES:
            raise InputError(f"--loss must be one of {', '.join(LOSSES)} (got '{self.loss}')")
        if self.long_tail is not None and not self.long_tail >= 1:
            raise InputError(f"--long-tail must be an imbalance ratio >= 1 (got {self.long_tail})")
        if self.kcl_k < 1 or self.queue_size < 1 or self.temperature <= 0 or self.tsc_weight < 0:
            raise InputError(f"need --kcl-k >= 1, --queue-size >= 1, --temperature > 0, --tsc-weight >= 0 (got "
                             f"{self.kcl_k}, {self.queue_size}, {self.temperature}, {self.tsc_weight})")


class Classifier(nn.Module):
    """backbone -> dropout -> linear head; ``(B, 3, T, H, W)`` -> logits ``(B, C)``."""

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.feat_dim, num_classes)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.backbone(x)))


def long_tail_subset(videos: list, imbalance: float, seed: int) -> list:
    """The train videos of a long-tailed split with imbalance ratio ``imbalance`` (largest / smallest class).

    The CIFAR-LT rule (Cao et al. 2019, used by KCL and TSC): class ``c`` of ``C`` (in label order)
    keeps ``int(n_max * imbalance ** (-c / (C - 1)))`` videos, at least 1 and at most the ones it has,
    ``n_max`` being the largest class of the split; which ones is a permutation of the class's videos
    (sorted by id) fixed by ``(seed, label)``. Deterministic: the same split, ratio and seed give the
    same subset. Returns the kept videos in the input order.
    """
    by_class: dict[int, list] = {}
    for v in videos:
        by_class.setdefault(int(v.label), []).append(v)
    labels = sorted(by_class)
    n_max = max(len(vs) for vs in by_class.values())
    keep: set[str] = set()
    for i, c in enumerate(labels):
        frac = imbalance ** (-i / (len(labels) - 1)) if len(labels) > 1 else 1.0
        n = min(len(by_class[c]), max(1, int(n_max * frac)))
        vs = sorted(by_class[c], key=lambda v: v.id)
        order = np.random.default_rng([seed & 0xFFFFFFFF, c, 0x10A6]).permutation(len(vs))
        keep.update(vs[j].id for j in order[:n])
    return [v for v in videos if v.id in keep]


def _augmenter(crop: int, min_scale: float, mean_std):
    """Random resized crop + flip on the device (:class:`vssl.data.transforms.ClipAugment`, no colour)."""
    from vssl.data.transforms import ClipAugment

    kw = {} if mean_std is None else {"mean": mean_std[0], "std": mean_std[1]}
    aug = ClipAugment(crop, scale=(min_scale, 1.0), jitter_p=0.0, gray_p=0.0, blur_p=0.0, **kw)
    return lambda x, g: aug(x, generator=g)[0]


def _identity(session: EvalSession, opts: FinetuneOptions) -> dict[str, Any]:
    """What a checkpoint must match to be resumed (everything but max_steps / save_every)."""
    o = asdict(opts)
    o.pop("max_steps")
    o.pop("save_every")
    for key, off in (("layer_decay", 1.0), ("drop_path", 0.0), ("loss", "ce"), ("long_tail", None), ("kcl_k", 6),
                     ("tsc_weight", 0.2), ("queue_size", 65536), ("temperature", 0.07), ("tsc_target_steps", 10_000)):
        if o.get(key) == off:
            o.pop(key)  # the default: checkpoints written before the option resume
    return {"options": o, "features": asdict(session.cfg.features), "init": session.meta["fingerprint"],
            "cache": session.cache_checksum, "split": session.split, "seed": session.cfg.seed}


@torch.inference_mode()
def evaluate_classifier(model: nn.Module, session: EvalSession, clips: int, crops: int) -> dict[str, Any]:
    """Video-level accuracy of ``model`` on the test split: clips x crops, softmax averaged."""
    from vssl.eval.linear import accuracy_topk, video_level

    vids = session.videos("test")
    opts = replace(session.cfg.features, clips=clips, crops=crops)
    ds = EvalClips(session.cache.root, [v.id for v in vids], opts)
    rt = session.cfg.runtime
    dev = rt.torch_device()
    loader = make_loader(ds, max(1, rt.batch_size // crops), rt.workers, dev)
    model.eval()
    logits, vidx = [], []
    with Progress("finetune test", len(ds), enabled=rt.progress) as bar:
        for batch in loader:
            clip = batch["clip"]
            b = clip.shape[0]
            x = to_model_input(clip.reshape(b * crops, *clip.shape[2:]), opts.mean_std, dev)
            with autocast(dev, rt.amp):
                out = model(x)
            logits.append(out.float().cpu())
            vidx.append(batch["video"].repeat_interleave(crops))
            bar.advance(b)
    lg, vi = torch.cat(logits), torch.cat(vidx)
    labels = torch.as_tensor([v.label for v in vids])
    vid = video_level(lg, vi, num_videos=len(vids))
    acc = accuracy_topk(vid, labels, (1, 5))
    clip_acc = accuracy_topk(lg, labels[vi], (1,))
    return {"top1": acc[1], "top5": acc[5], "clip_top1": clip_acc[1], "pred": vid.argmax(1).numpy(),
            "labels": labels.numpy()}


def run_finetune(session: EvalSession, opts: FinetuneOptions | None = None) -> dict[str, Any]:
    """Finetune, test, write ``metrics.json`` section ``finetune`` and ``confusion_finetune.png``.

    Raises:
        InputError: bad options, or a checkpoint of other options without ``force``.
        TrainingError: the loss became NaN or infinite (exit 5).
    """
    from vssl.eval.plots import plot_confusion, plot_loss_curves
    from vssl.eval.protocols import confusion, write_results
    from vssl.utils.fs import atomic_torch_save

    opts = opts or FinetuneOptions()
    opts.validate()
    cfg = session.cfg
    fo, rt = cfg.features, cfg.runtime
    dev = rt.torch_device()
    train_vids = session.videos("train")
    n_train_all = len(train_vids)
    if opts.long_tail is not None:
        train_vids = long_tail_subset(train_vids, opts.long_tail, cfg.seed)
    session.videos("test")  # an empty test set fails now, not after training
    c = len(session.class_names)
    ident = _identity(session, opts)
    fdir = session.out / "finetune"
    ckpt_path = fdir / CHECKPOINT
    log_path = fdir / "metrics.jsonl"

    if opts.drop_path > 0:
        if not callable(getattr(session.model, "set_drop_path", None)):
            raise InputError(f"--drop-path is for ViT backbones (vit_tiny, vit_s, vit_b), not "
                             f"{type(session.model).__name__}")
        session.model.set_drop_path(opts.drop_path)
    model = Classifier(session.model, c, opts.dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        nn.init.normal_(model.head.weight, std=0.01)
        if opts.loss != "ce":  # the contrastive machinery around the classifier (vssl.eval.supcon)
            from vssl.eval.supcon import ContrastiveFinetune

            model = ContrastiveFinetune(model, c, loss=opts.loss, queue_size=opts.queue_size, k_positives=opts.kcl_k,
                                        target_weight=opts.tsc_weight, temperature=opts.temperature, seed=cfg.seed,
                                        target_steps=opts.tsc_target_steps)
    contrastive = opts.loss != "ce"
    model = prepare_model(model, dev)
    from vssl.train.optim import build_optimizer, layer_decay_groups, param_groups

    groups = param_groups(model, weight_decay=opts.wd, exclude_norm_bias=True)  # no decay on biases and norms
    groups = layer_decay_groups(model, groups, opts.layer_decay,  # ViTs: lower layers at lower lr
                                prefix="classifier.backbone." if contrastive else "backbone.")
    optim = build_optimizer("sgd", groups, lr=opts.lr, momentum=opts.momentum)
    at = Position()
    resumed = False
    if ckpt_path.exists():
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise InputError(f"cannot read {ckpt_path} ({str(e).splitlines()[0]}): delete it or use --force") from None
        if ck.get("identity") != ident and not cfg.force:
            raise InputError(f"{ckpt_path} was trained with other options or weights; rerun with the same options "
                             "to resume, or --force to start over")
        if ck.get("identity") == ident:
            model.load_state_dict(ck["model"])
            optim.load_state_dict(ck["optimizer"])
            at = Position(epoch=ck["epoch"], pos=ck["batch"], step=ck["step"], done=ck["done"])
            resumed = True
    if not resumed and fdir.exists():
        shutil.rmtree(fdir)
    fdir.mkdir(parents=True, exist_ok=True)
    # Drop log rows written after the checkpoint we resume from (they will be redone).
    rows = []
    if resumed and log_path.exists():
        rows = [r for r in map(json.loads, log_path.read_text().splitlines()) if r["step"] <= at.step]
    log_path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    ds = TrainClips(session.cache.root, [v.id for v in train_vids], fo.clip_len, fo.stride, load_size(fo.resize),
                    cfg.seed)
    n = len(ds)
    steps_per_epoch = max(1, n // min(opts.batch_size, n))
    total = opts.epochs * steps_per_epoch
    warmup = int(round(opts.warmup_epochs * steps_per_epoch))
    augment = _augmenter(fo.crop, opts.min_scale, fo.mean_std)
    sampler = EpochBatchSampler(n, fit_batch_size(opts.batch_size, n), seed=cfg.seed)  # epoch order fixed by the seed

    def save() -> None:
        atomic_torch_save(ckpt_path, {"model": model.state_dict(), "optimizer": optim.state_dict(), "epoch": at.epoch,
                                      "batch": at.pos, "step": at.step, "done": at.done,
                                      "identity": ident})  # tmp + fsync + rename after a free-space check

    t0 = time.perf_counter()
    limit = opts.max_steps if opts.max_steps is not None else total
    # SIGTERM / SIGINT / SIGUSR1: finish the step, save, exit with one line (a second Ctrl-C stops at
    # once and keeps the last checkpoint: a step cut short must not be saved)
    with StopRequest() as stop:
        with Progress("finetune", total, enabled=rt.progress and not at.done) as bar, open(log_path, "a") as log:
            bar.advance(at.step)

            def epoch_loader():
                """A fresh loader per epoch (run_steps sets the sampler first); the model back in train mode."""
                model.train()
                return make_loader(ds, 0, rt.workers, dev, batch_sampler=sampler)

            def train_one(batch: dict, p: Position) -> None:
                """Step ``p.step`` (0-based) and its metrics.jsonl row (numbered after it, as the checkpoint)."""
                lr = lr_factor(p.step, total, warmup, peak=opts.lr)  # warm-up, cosine to 0
                for g in optim.param_groups:
                    g["lr"] = lr * g.get("lr_scale", 1.0)
                step_seed = (cfg.seed * 1_000_003 + p.step) & 0x7FFFFFFF
                gen = torch.Generator().manual_seed(step_seed)
                torch.manual_seed(step_seed)  # dropout: a resumed run draws what an uninterrupted one does
                raw = batch["clip"].to(dev, non_blocking=True).permute(0, 4, 1, 2, 3).float().div_(255.0)
                # query (and key) view; on CUDA prepare_model's layout hooks put them in channels_last_3d
                views = [augment(raw, gen) for _ in range(2 if contrastive else 1)]
                y = batch["label"].to(dev)
                extra = {}
                with autocast(dev, rt.amp):
                    if contrastive:
                        loss, extra = model.loss(views[0], views[1], y, gen)
                    else:
                        loss = nn.functional.cross_entropy(model(views[0]).float(), y)
                if not torch.isfinite(loss):
                    raise TrainingError(f"finetune loss is {loss.item()} at step {p.step}: lower --lr "
                                        "(the last checkpoint is kept)")
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                if contrastive:
                    model.after_step()  # EMA key encoder, queue
                log.write(json.dumps({"step": p.step + 1, "epoch": p.epoch, "loss": loss.item(), "lr": lr, **extra})
                          + "\n")
                bar.advance()

            def flush_and_save() -> None:
                log.flush()
                save()

            def stop_message(workers: bool) -> str:
                why = " (its data loader workers were stopped too)" if workers else ""
                return (f"{stop.name} at finetune step {at.step} of {total}{why}: checkpoint written to {ckpt_path}; "
                        "rerun the same command to resume")

            steps_run = run_steps(at, epochs=opts.epochs, limit=limit, sampler=sampler, loader=epoch_loader,
                                  step=train_one, save=flush_and_save, save_every=opts.save_every, stop=stop,
                                  stop_message=stop_message)
    train_seconds = time.perf_counter() - t0

    tc = opts.test_clips or fo.clips
    t1 = time.perf_counter()
    ev = evaluate_classifier(model, session, tc, opts.test_crops)
    cm = confusion(ev["pred"], ev["labels"], c)
    figures = [str(plot_confusion(cm, session.class_names, session.out / "confusion_finetune.png",
                                  title=f"Finetune, video level ({tc} clips x {opts.test_crops} crops)"))]
    loss_rows = [json.loads(r) for r in log_path.read_text().splitlines()]
    if loss_rows:
        figures.append(str(plot_loss_curves({"finetune": [(r["step"], r["loss"]) for r in loss_rows]},
                                            session.out / "finetune_loss.png", smooth=0.6 if len(loss_rows) > 20 else 0,
                                            title="Finetune loss")))
    result = {
        "metrics": {"top1": ev["top1"], "top5": ev["top5"], "clip_top1": ev["clip_top1"]},
        "options": {**asdict(opts), **asdict(fo), "split": session.split, "seed": cfg.seed, "device": str(dev)},
        "steps": at.step,
        "total_steps": total,
        "epochs_done": at.epoch,
        "complete": bool(at.done),
        "resumed": resumed,
        "steps_this_run": steps_run,
        "final_loss": loss_rows[-1]["loss"] if loss_rows else None,
        "confusion": cm.tolist(),
        "seconds": {"train": train_seconds, "test": time.perf_counter() - t1},
        "checkpoint": str(ckpt_path),
        "figures": figures,
        "train_videos": {"used": n, "split": n_train_all,
                         "per_class": np.bincount([v.label for v in train_vids], minlength=c).tolist()},
    }
    write_results(session, "finetune", result)
    return result
