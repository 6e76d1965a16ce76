"""CaptioningSolver: trains a CaptioningRNN on captioning data.

Beyond the exercise's solver: a seedable minibatch generator, gradient
clipping by global norm, periodic validation with caption metrics and the best
parameters kept, atomic checkpoints that resume exactly, a progress bar, and
faults that lose nothing (a NaN loss stops training before the bad update; an
interrupt writes a checkpoint first).
"""
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from coco_utils import decode_captions, references_by_image, sample_coco_minibatch
from layers import check_positive_int
import optim
from rnn_captioning.evaluation.metrics import score_captions
from rnn_captioning.files.solver_state import CHECKPOINT_KIND, read_checkpoint, write_checkpoint
from rnn_captioning.files.training_data import check_training_data

__all__ = ["CaptioningSolver", "CHECKPOINT_KIND"]

CHECKPOINT_NAME = "checkpoint.npz"
_LOWER_IS_BETTER = {"val_loss"}


class CaptioningSolver:
    """Trains ``model`` on ``data`` (the dict of ``coco_utils.load_coco_data``).

    After ``train()``: ``loss_history`` (one float per iteration),
    ``grad_norm_history``, ``val_history`` (one dict per validation with the
    iteration, epoch, val_loss and caption metrics), ``best_params``.
    """

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, print_every=10, verbose=True,
                 grad_clip=None, seed=None, checkpoint_dir=None, checkpoint_every=None,
                 resume_from=None, val_every=0, val_max_images=500,
                 val_max_captions=2000, keep_best="CIDEr", restore_best=False,
                 meteor=False, objective=None, blas_threads=1, **unknown):
        """Options (all keyword-only). With the exercise's options alone it
        behaves as the exercise's solver: prints ``(Iteration i / n) loss: ...``
        every ``print_every`` iterations when verbose, never validates, and
        leaves the model with its last parameters. Options:
        - update_rule: name in optim.UPDATE_RULES ('sgd', 'sgd_momentum', 'rmsprop', 'adam')
        - optim_config: hyperparameters given to the update rule, e.g. learning_rate
        - lr_decay: learning rate multiplied by this after each epoch
        - batch_size, num_epochs: minibatch size and epochs (epoch = N // batch_size steps)
        - print_every: iterations between printed losses (and refreshes of
          the progress bar's loss)
        - verbose: print the exercise's loss lines and show a progress bar
        - grad_clip: rescale gradients whose global L2 norm exceeds this (None: off)
        - seed: seed of the minibatch generator (None: drawn from NumPy's
          global random state, so np.random.seed(...) decides it)
        - checkpoint_dir: folder for checkpoint.npz (None: no checkpoints)
        - checkpoint_every: iterations between checkpoints (None: every epoch);
          one is also written at the end and on an interrupt
        - resume_from: a checkpoint file to continue from
        - val_every: iterations between validations (0: never, the default;
          None: every epoch)
        - val_max_images, val_max_captions: size of the validation subsets
        - keep_best: metric picking the best parameters ('CIDEr', 'Bleu_4', ...,
          or 'val_loss'); None keeps none
        - restore_best: put the best parameters into the model after training
          (the model then differs from the one loss_history[-1] describes)
        - meteor: also compute METEOR at validation (needs Java; slow to start)
        - objective: what a step minimises, a callable (model, data,
          batch_size, rng) -> (loss, grads, info); None is the exercise's
          cross-entropy on a minibatch of captions (:func:`cross_entropy`);
          self_critical.SelfCritical(reward) fine-tunes on a caption metric,
          and its mean reward per step goes to ``reward_history``
        - blas_threads: BLAS threads while training (None: as the process
          has them). One by default: this model's matrices are small, so two
          threads gain little on a quiet machine (32 against 25 it/s on 2
          cores) and lose much when the cores are shared, where they
          spin-wait for each other (4 against 11 it/s beside three busy
          processes; benchmarks/bench_threads.py)
        """
        if unknown:
            raise ValueError(f"unknown CaptioningSolver options: {sorted(unknown)}")
        if isinstance(update_rule, str):
            if update_rule not in optim.UPDATE_RULES:
                raise ValueError(f"update_rule must be one of {sorted(optim.UPDATE_RULES)}, "
                                 f"got {update_rule!r}")
        elif not callable(update_rule):
            raise TypeError("update_rule must be a name or a callable")
        check_positive_int("batch_size", batch_size)
        check_positive_int("print_every", print_every)
        check_positive_int("num_epochs", num_epochs, allow_zero=True)
        if checkpoint_every is not None:
            check_positive_int("checkpoint_every", checkpoint_every)
        if val_every is not None:
            check_positive_int("val_every", val_every, allow_zero=True)
        if not lr_decay > 0:
            raise ValueError(f"lr_decay must be > 0, got {lr_decay!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {grad_clip!r}")
        check_training_data(data, model, ("train",) if val_every == 0 else ("train", "val"))

        self.model, self.data = model, data
        self.update_rule = update_rule
        self.lr_decay, self.batch_size, self.num_epochs = lr_decay, batch_size, num_epochs
        self.print_every, self.verbose, self.grad_clip = print_every, verbose, grad_clip
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_every, self.val_every = checkpoint_every, val_every
        self.val_max_images, self.val_max_captions = val_max_images, val_max_captions
        self.keep_best, self.restore_best, self.meteor = keep_best, restore_best, meteor
        if blas_threads is not None:
            check_positive_int("blas_threads", blas_threads)
        self.blas_threads = blas_threads
        if objective is not None and not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        self.objective = cross_entropy if objective is None else objective

        if seed is None:        # np.random.seed(...) before the solver decides its batches
            seed = int(np.random.randint(2 ** 31 - 1))
        self.rng = np.random.default_rng(seed)
        self.optim_configs = {name: dict(optim_config or {}) for name in model.params}
        self.epoch = 0
        self.iteration = 0
        self.loss_history, self.grad_norm_history, self.val_history = [], [], []
        self.reward_history = []                # self-critical steps only
        self.best_metric, self.best_params = None, None
        self._stop_requested = False
        self._references = {}                   # split -> reference captions by image
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    # -- schedule ----------------------------------------------------------------

    @property
    def iterations_per_epoch(self):
        return max(self.data["train_captions"].shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    @property
    def checkpoint_path(self):
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    def _due(self, every):
        """Is an event with period ``every`` (None: each epoch) due now?"""
        every = self.iterations_per_epoch if every is None else every
        return every > 0 and self.iteration % every == 0

    # -- training ------------------------------------------------------------------

    def train(self):
        """Train until ``num_epochs`` epochs are done; returns ``loss_history``."""
        has_val = "val_captions" in self.data and self.val_every != 0
        bar = tqdm(total=self.num_iterations, initial=self.iteration, desc="train",
                   disable=not self.verbose, dynamic_ncols=True)
        threads = nullcontext() if self.blas_threads is None else \
            threadpool_limits(self.blas_threads)
        try:
            with bar, self._deferred_sigint(), threads:
                while self.iteration < self.num_iterations:
                    self._step()
                    self._print_loss()
                    if has_val and self._due(self.val_every):
                        self.validate()
                    if self.checkpoint_dir is not None and self._due(self.checkpoint_every):
                        self.save_checkpoint()
                    self._update_bar(bar)
                    if self._stop_requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if self.checkpoint_dir is not None:
                self.save_checkpoint()
            raise
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        if self.restore_best and self.best_params is not None:
            self.model.set_params(self.best_params)
        return self.loss_history

    def _step(self):
        """One update from one minibatch. Nothing changes (the minibatch draw
        included) unless the whole step succeeds with a finite loss."""
        rng_state = self.rng.bit_generator.state
        try:
            loss, grads, info = self.objective(self.model, self.data, self.batch_size,
                                               self.rng)
        except BaseException:
            self.rng.bit_generator.state = rng_state   # a resume redraws this batch
            raise
        # vdot: a BLAS dot per gradient, no squared copy (float64 sum across them)
        norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
        if not (np.isfinite(loss) and np.isfinite(norm)):
            self.rng.bit_generator.state = rng_state
            where = (f"; the last good checkpoint is {self.checkpoint_path}"
                     if self.checkpoint_path and self.checkpoint_path.exists() else "")
            raise FloatingPointError(
                f"training diverged at iteration {self.iteration} (epoch {self.epoch}): loss "
                f"{loss}, gradient norm {norm}. The model keeps the parameters from before this "
                f"step{where}. Lower the learning rate or set grad_clip.")
        scale = self.grad_clip / norm if self.grad_clip and norm > self.grad_clip else 1.0
        new_params, new_configs = {}, {}
        rule = _rule(self.update_rule)
        for name, w in self.model.params.items():
            new_params[name], new_configs[name] = rule(
                w, grads[name] * w.dtype.type(scale) if scale != 1.0 else grads[name],
                dict(self.optim_configs[name]))
        iteration, epoch = self.iteration + 1, self.epoch
        if iteration % self.iterations_per_epoch == 0:      # an epoch ends with this step
            epoch += 1
            _decay_learning_rates(new_configs, self.lr_decay)
        # commit everything together, so an interrupt never sees half a step
        self.model.params, self.optim_configs, self.iteration, self.epoch = (
            new_params, new_configs, iteration, epoch)
        self.loss_history.append(float(loss))
        self.grad_norm_history.append(norm)
        if "reward" in info:
            self.reward_history.append(float(info["reward"]))

    def _print_loss(self):
        """The exercise's line at iterations 1, 1 + print_every, ... when
        verbose; tqdm.write prints it above the progress bar, not through it."""
        if self.verbose and (self.iteration - 1) % self.print_every == 0:
            tqdm.write(f"(Iteration {self.iteration} / {self.num_iterations}) "
                       f"loss: {self.loss_history[-1]:f}", file=sys.stdout)

    def _update_bar(self, bar):
        bar.update(1)
        if self.iteration % self.print_every == 0 or self.iteration == self.num_iterations:
            postfix = {"epoch": self.epoch, "loss": f"{self.loss_history[-1]:.3f}"}
            if self.reward_history:
                postfix["reward"] = f"{np.mean(self.reward_history[-self.print_every:]):.3f}"
            if self.val_history:
                last = self.val_history[-1]
                postfix["val_loss"] = f"{last['val_loss']:.3f}"
                if self.keep_best in last and self.keep_best != "val_loss":
                    postfix[self.keep_best] = f"{last[self.keep_best]:.3f}"
            bar.set_postfix(postfix, refresh=False)

    @contextmanager
    def _deferred_sigint(self):
        """Ctrl-C ends training at the end of the current iteration (a second
        Ctrl-C interrupts at once). Only the main thread can set handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._stop_requested = False

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- validation ---------------------------------------------------------------

    def validate(self):
        """Validation loss and caption metrics; appended to ``val_history``.

        The loss uses the first ``val_max_captions`` val captions; the metrics
        compare greedy captions of the first ``val_max_images`` val images with
        all of each image's reference captions. Uses no training randomness.
        """
        data, model = self.data, self.model
        captions = data["val_captions"][: self.val_max_captions]
        idxs = data["val_image_idxs"][: self.val_max_captions]
        # the loss alone when the model offers it (a learner's own model may not)
        loss_of = getattr(model, "forward_loss", lambda f, c: model.loss(f, c)[0])
        total = 0.0
        for lo in range(0, len(captions), self.batch_size):
            batch = slice(lo, lo + self.batch_size)
            n = len(captions[batch])
            total += n * loss_of(data["val_features"][idxs[batch]], captions[batch])
        record = {"iteration": self.iteration, "epoch": self.epoch,
                  "val_loss": total / max(len(captions), 1)}
        record.update(self.caption_metrics("val", self.val_max_images))
        self.val_history.append(record)
        self._keep_if_best(record)
        return record

    def caption_metrics(self, split="val", max_images=None, *, beam_size=1, meteor=None):
        """BLEU, CIDEr-D, ROUGE-L (and METEOR: True, False or 'auto'; None
        uses the solver's setting) of the model's captions of a split's first
        ``max_images`` images (greedy, or beam search when beam_size > 1)
        against all their reference captions."""
        if split not in self._references:       # decoding 195k COCO captions takes seconds
            self._references[split] = references_by_image(self.data, split)
        refs = self._references[split]
        image_ids = sorted(refs)[:max_images]
        generated = caption_images(self.model, self.data[f"{split}_features"], image_ids,
                                   max_length=self.data[f"{split}_captions"].shape[1] - 1,
                                   beam_size=beam_size)
        candidates = dict(zip(image_ids, decode_captions(
            generated, self.data["idx_to_word"], strip_special=True)))
        return score_captions(candidates, {i: refs[i] for i in image_ids},
                              meteor=self.meteor if meteor is None else meteor)

    def _keep_if_best(self, record):
        if self.keep_best is None or self.keep_best not in record:
            return
        value = record[self.keep_best]
        lower = self.keep_best in _LOWER_IS_BETTER
        if self.best_metric is None or (value < self.best_metric if lower
                                        else value > self.best_metric):
            self.best_metric = value
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

    # -- checkpoints ----------------------------------------------------------------

    def save_checkpoint(self, path=None):
        """Write model, optimiser state, rng state, counters and histories to
        one .npz file (default ``checkpoint_dir/checkpoint.npz``), atomically."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give one or set checkpoint_dir")
        write_checkpoint(path, self)
        return path

    def load_checkpoint(self, path):
        """Restore the state saved by :meth:`save_checkpoint` into this solver
        and its model; the model must have the same sizes and vocabulary. The
        whole file is checked first: a refused one changes nothing."""
        state = read_checkpoint(path, self.model, self.update_rule)
        self.model.set_params(state.pop("params"), source=str(path))
        self.rng.bit_generator.state = state.pop("rng_state")
        for key, value in state.items():
            setattr(self, key, value)


def cross_entropy(model, data, batch_size, rng):
    """The default objective: the exercise's minibatch of captions and the
    model's loss. Returns (loss, grads, info)."""
    captions, features, _ = sample_coco_minibatch(data, batch_size=batch_size, split="train",
                                                  rng=rng)
    loss, grads = model.loss(features, captions)
    return loss, grads, {}


def caption_images(model, features, image_ids, *, max_length, beam_size=1, chunk=500):
    """Captions (len(image_ids), max_length) of the given feature rows, in
    chunks so that beam search of many images stays small in memory."""
    out = []
    for lo in range(0, len(image_ids), chunk):
        feats = features[np.asarray(image_ids[lo:lo + chunk])]
        if beam_size > 1:
            out.append(model.beam_search(feats, beam_size=beam_size, max_length=max_length)[0])
        else:
            out.append(model.sample(feats, max_length=max_length))
    return np.concatenate(out, axis=0)


def _decay_learning_rates(configs, lr_decay):
    for config in configs.values():
        if "learning_rate" in config:   # the built-in rules always store it
            config["learning_rate"] *= lr_decay


def _rule(update_rule):
    return optim.UPDATE_RULES[update_rule] if isinstance(update_rule, str) else update_rule
