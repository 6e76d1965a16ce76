"""The main job: train a CaptioningRNN and report how well it captions.

    python train.py                      # COCO if its files are present, else built-in
    python train.py --cell-type rnn --epochs 5 --output-dir runs/rnn

Uses the COCO captioning files when they are in --data-dir (default
$COCO_CAPTIONING_DIR or datasets/coco_captioning), otherwise the built-in
shapes dataset (generated on first use). The checkpoint is chosen on val; at
the end it prints BLEU-4 and CIDEr-D of the test split on the built-in dataset
(with the strict scene accuracy and its errors, and the novel-pair split
apart), of val on COCO, and writes a run folder: model.npz, checkpoint.npz,
metrics.json, loss.png, samples.png.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from captioning_rnn import CaptioningRNN
from coco_utils import default_data_dir, load_coco_data, references_by_image
from solver import CaptioningSolver
from rnn_captioning.evaluation.plots import plot_training, save_figure
from rnn_captioning.evaluation.scenes import load_split, sample_figure, scene_accuracy
from rnn_captioning.files.checkpoints import atomic_write
from rnn_captioning.files.solver_state import model_for_checkpoint
from rnn_captioning.scenes import dataset as shapes_dataset
from rnn_captioning.self_critical.reward import CiderD
from rnn_captioning.self_critical.training import SceneReward, SelfCritical

COCO_MARKER = "coco2014_captions.h5"


def count(minimum):
    """An argparse type: an integer >= minimum, refused with a clear message."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def positive(text):
    """An argparse type: a finite float > 0."""
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def rate(text):
    """An argparse type: a probability in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none to show (None,
    a switch that is off, or a help text that says it already)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in action.help:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=_HelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="COCO captioning folder (default: $COCO_CAPTIONING_DIR or "
                        "datasets/coco_captioning; the built-in dataset if absent)")
    p.add_argument("--builtin", action="store_true",
                   help="use the built-in dataset even if COCO is present")
    p.add_argument("--cell-type", choices=("rnn", "lstm"), default="lstm",
                   help="recurrent cell of the decoder")
    p.add_argument("--wordvec-dim", type=count(1), default=128, help="word vector size W")
    p.add_argument("--hidden-dim", type=count(1), default=256, help="hidden state size H")
    p.add_argument("--epochs", type=count(0), default=3, help="epochs of cross-entropy training")
    p.add_argument("--batch-size", type=count(1), default=100, help="captions per minibatch")
    p.add_argument("--learning-rate", type=positive, default=5e-3, help="Adam's learning rate")
    p.add_argument("--lr-decay", type=positive, default=0.5,
                   help="the learning rate is multiplied by this after each epoch")
    p.add_argument("--grad-clip", type=positive, default=5.0,
                   help="gradients whose global L2 norm exceeds this are scaled down to it")
    p.add_argument("--dropout", type=rate, default=0.2,
                   help="dropout on the image features and the decoder's hidden states "
                        "during cross-entropy training (0: none, the exercise's model)")
    p.add_argument("--max-train", type=count(1), default=None,
                   help="use this many training captions at most (default: all)")
    p.add_argument("--val-images", type=count(1), default=500,
                   help="validation images scored at each epoch and at the end")
    p.add_argument("--beam-size", type=count(1), default=1,
                   help="beam width of the final evaluation (1: greedy)")
    p.add_argument("--meteor", action="store_true",
                   help="also compute METEOR at the end when Java is present (slow to start)")
    p.add_argument("--no-meteor", action="store_true", help=argparse.SUPPRESS)   # the default
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the minibatches and dropout")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="run folder (default: runs/<date>-<time>, or the folder of the "
                        "checkpoint resumed)")
    p.add_argument("--resume", type=Path, default=None,
                   help="continue an interrupted training from its checkpoint.npz")
    p.add_argument("--blas-threads", type=count(1), default=1,
                   help="BLAS threads while training: 2 is faster on a quiet machine, much "
                        "slower when other work shares the cores")
    p.add_argument("--print-every", type=count(1), default=500,
                   help="iterations between printed training losses")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar and the loss lines")
    scst = p.add_argument_group("self-critical phase (after cross-entropy training)")
    scst.add_argument("--scst-epochs", type=count(0), default=0,
                      help="epochs of self-critical training on the reward (0: none)")
    scst.add_argument("--scst-reward", choices=("auto", "cider", "scene", "cider+scene"),
                      default="auto", help="CIDEr-D with training document frequencies, "
                      "the strict scene metric (built-in dataset), or their sum; auto: the "
                      "sum on the built-in dataset, CIDEr-D on COCO")
    scst.add_argument("--scst-scene-value", type=positive, default=4.0,
                      help="reward of a caption right under the strict scene metric (CIDEr-D "
                      "ranges over 0-10)")
    scst.add_argument("--scst-baseline", choices=("greedy", "mean"), default="greedy",
                      help="what each sample's reward is compared with: the greedy "
                           "caption's reward, or the mean of the image's other samples")
    scst.add_argument("--scst-samples", type=count(1), default=5, help="captions sampled per image")
    scst.add_argument("--scst-learning-rate", type=positive, default=3e-4,
                      help="Adam's learning rate in the self-critical phase")
    scst.add_argument("--init-model", type=Path, default=None,
                      help="start from this saved model.npz, without cross-entropy training; "
                           "alone (no --scst-epochs), only evaluate it")
    scst.add_argument("--scst-resume", type=Path, default=None,
                      help="continue an interrupted self-critical phase from its checkpoint")
    return p.parse_args(argv)


def resolve_data_dir(args):
    """(folder, is_builtin). A folder in the COCO layout (COCO itself or a
    generated built-in dataset) is used as is; without one, the built-in
    dataset is generated on first use."""
    folder = args.data_dir if args.data_dir is not None else default_data_dir()
    if not args.builtin and (folder / COCO_MARKER).is_file():
        return folder, (folder / shapes_dataset.SCENES_FILE.format(split="val")).is_file()
    if args.data_dir is not None and not args.builtin:
        raise SystemExit(f"error: {args.data_dir} has no {COCO_MARKER}; "
                         f"drop --data-dir to use the built-in dataset")
    print("COCO files not found: using the built-in shapes dataset", flush=True)
    return shapes_dataset.ensure_dataset(), True


def build_solver(args, data, run_dir):
    model = CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                          wordvec_dim=args.wordvec_dim, hidden_dim=args.hidden_dim,
                          cell_type=args.cell_type, rng=args.seed, dropout=args.dropout,
                          dropout_rng=[args.seed, 1])   # a stream of its own
    if args.resume is None:
        model.init_output_bias(data["train_captions"])
    return CaptioningSolver(
        model, data, update_rule="adam", optim_config={"learning_rate": args.learning_rate},
        lr_decay=args.lr_decay, batch_size=args.batch_size, num_epochs=args.epochs,
        grad_clip=args.grad_clip, seed=args.seed, checkpoint_dir=run_dir,
        resume_from=args.resume, val_every=None, val_max_images=args.val_images,
        keep_best="CIDEr", restore_best=True, print_every=args.print_every,
        verbose=not args.no_progress, blas_threads=args.blas_threads)


def build_scst_solver(args, data, data_dir, builtin, model, run_dir, best_val_cider=None):
    """The self-critical phase: continues from ``model`` with the reward of
    --scst-reward, chooses its checkpoint on val CIDEr-D as the first phase
    does (with ``best_val_cider``, the first phase's best: ``model`` stays the
    best until beaten), and writes its checkpoints to run_dir/self_critical."""
    rewards = []
    kind = args.scst_reward if args.scst_reward != "auto" else (
        "cider+scene" if builtin else "cider")
    if "cider" in kind:
        rewards.append(CiderD(references_by_image(data, "train")))
    if "scene" in kind:
        if not builtin:
            raise SystemExit("error: --scst-reward scene needs the built-in dataset")
        rewards.append(SceneReward(shapes_dataset.load_scenes(data_dir, "train"),
                                   value=args.scst_scene_value))
    reward = rewards[0] if len(rewards) == 1 else (
        lambda captions, ids: sum(r(captions, ids) for r in rewards))
    # The policy gradient scores the captions the model sampled; dropping
    # units in its loss would score another policy's.
    model.dropout = 0.0
    solver = CaptioningSolver(
        model, data, update_rule="adam", optim_config={"learning_rate": args.scst_learning_rate},
        batch_size=args.batch_size, num_epochs=args.scst_epochs, grad_clip=args.grad_clip,
        seed=args.seed + 1, checkpoint_dir=run_dir / "self_critical",
        resume_from=args.scst_resume, val_every=None, val_max_images=args.val_images,
        keep_best="CIDEr", restore_best=True, print_every=args.print_every,
        verbose=not args.no_progress, blas_threads=args.blas_threads,
        objective=SelfCritical(reward, samples=args.scst_samples, baseline=args.scst_baseline))
    if best_val_cider is not None:
        solver.best_metric, solver.best_params = best_val_cider, dict(model.params)
    return solver


def scst_summary(scst, seconds, before):
    """What the self-critical phase (the solver ``scst``) did: val CIDEr-D of
    the model it started from (None when resumed) and of the checkpoint it
    chose, the mean reward of its first and last epochs, its time."""
    per_epoch = scst.iterations_per_epoch
    rewards = scst.reward_history
    return {"epochs": scst.num_epochs, "val_CIDEr_before": before,
            "val_CIDEr_after": scst.best_metric,
            "reward_first_epoch": float(np.mean(rewards[:per_epoch])),
            "reward_last_epoch": float(np.mean(rewards[-per_epoch:])),
            "seconds": round(seconds, 1)}


def evaluate(solver, data, data_dir, builtin, args):
    """Final metrics of the report split: test on the built-in dataset (the
    checkpoint was chosen on val), val on COCO (its test captions are not
    public). On the built-in dataset also the strict scene accuracy with its
    error counts, and the same for the novel (compositional) split."""
    split = "test" if builtin else "val"
    meteor = "auto" if args.meteor and not args.no_meteor else False
    metrics = {"split": split, **_split_metrics(solver, data, data_dir, builtin, split, args,
                                               meteor=meteor)}
    if builtin:
        metrics["novel"] = _split_metrics(solver, data, data_dir, builtin, "novel", args,
                                          meteor=False)
    return metrics


def _split_metrics(solver, data, data_dir, builtin, split, args, meteor):
    max_images = args.val_images if split == "val" else None
    metrics = solver.caption_metrics(split, max_images, beam_size=args.beam_size, meteor=meteor)
    if builtin:
        metrics["strict_accuracy"], metrics["strict_errors"] = scene_accuracy(
            solver.model, data, data_dir, split, beam_size=args.beam_size)
    return metrics


def run_folder(args):
    """--output-dir; else the run folder of the checkpoint resumed (a
    self-critical checkpoint sits in <run>/self_critical/); else a new
    runs/<date>-<time>."""
    if args.output_dir is not None:
        return args.output_dir
    if args.scst_resume is not None:
        folder = args.scst_resume.parent
        return folder.parent if folder.name == "self_critical" else folder
    if args.resume is not None:
        return args.resume.parent
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def plan(args, data, data_dir, builtin, run_dir):
    """(the phases: a list of (resume flag, a function making its solver),
    the model they start from, the headline saying what happens). The
    self-critical phase's solver is made when its turn comes: after a
    cross-entropy phase it starts from that phase's best val CIDEr-D (the
    model stays the best until beaten), from --init-model from the saved
    model's own. No phase: the model of --init-model is only evaluated."""
    where = f"{len(data['train_captions'])} captions ({'built-in shapes' if builtin else 'COCO'})"
    phases, model = [], None
    if args.init_model is None and args.scst_resume is None:
        cross_entropy = build_solver(args, data, run_dir)
        phases.append(("--resume", lambda: cross_entropy))
        model = cross_entropy.model
        headline = f"training a {args.cell_type} captioner on {where}"
    elif args.scst_resume is not None:      # the checkpoint holds the weights
        model = model_for_checkpoint(args.scst_resume)
        headline = f"resuming the self-critical phase of {args.scst_resume} on {where}"
    else:
        model = CaptioningRNN.load(args.init_model)
        headline = (f"self-critical training of {args.init_model} ({model.cell_type}) on {where}"
                    if args.scst_epochs else f"evaluating {args.init_model} ({model.cell_type})")
    if args.scst_epochs:
        def self_critical():
            if phases[0][0] == "--resume":
                best = phases[0][1]().best_metric
            elif args.scst_resume is None:
                best = evaluation_solver(model, data).caption_metrics(
                    "val", args.val_images)["CIDEr"]
            else:
                best = None         # the checkpoint has its own
            return build_scst_solver(args, data, data_dir, builtin, model, run_dir, best)
        phases.append(("--scst-resume", self_critical))
    return phases, model, f"{headline}; run folder {run_dir}"


def evaluation_solver(model, data):
    """A solver that only scores ``model`` (no training, no checkpoints)."""
    return CaptioningSolver(model, data, num_epochs=0, verbose=False)


def settings(args, data_dir, builtin):
    """What produced a run's figures: every flag, and the data it used."""
    flags = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    data = {"folder": str(data_dir), "builtin": builtin}
    if builtin:
        try:            # the generated dataset's version, seed and sizes
            data.update(json.loads((Path(data_dir) / "DONE.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    return {"flags": flags, "data": data, "command": " ".join(sys.argv)}


def main(argv=None):
    args = parse_args(argv)
    if args.scst_resume and not args.scst_epochs:
        raise SystemExit("error: --scst-resume continues the self-critical phase: give "
                         "--scst-epochs N (the phase's total epochs)")
    data_dir, builtin = resolve_data_dir(args)
    data = load_coco_data(data_dir, max_train=args.max_train, rng=args.seed)
    if builtin:
        for split in ("test", "novel"):
            load_split(data, data_dir, split)
    run_dir = run_folder(args)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    phases, model, headline = plan(args, data, data_dir, builtin, run_dir)
    print(headline, flush=True)
    solver, phase_seconds, trained = None, 0.0, {}
    for flag, make in phases:
        solver = trained[flag] = make()
        before = solver.best_metric     # the self-critical phase's starting point
        phase_start = time.perf_counter()
        try:
            solver.train()
        except KeyboardInterrupt:
            print(f"\ninterrupted; resume with {flag} {solver.checkpoint_path}", file=sys.stderr)
            return 130
        phase_seconds = time.perf_counter() - phase_start
        solver.model.save(run_dir / "model.npz")
    solver = solver or evaluation_solver(model, data)     # --init-model alone: only scored
    metrics = evaluate(solver, data, data_dir, builtin, args)
    metrics["train_seconds"] = round(time.perf_counter() - start, 1)
    if "--scst-resume" in trained:
        metrics["self_critical"] = scst_summary(trained["--scst-resume"], phase_seconds,
                                                None if args.scst_resume else before)
    metrics["settings"] = settings(args, data_dir, builtin)
    atomic_write(run_dir / "metrics.json",
                 lambda f: f.write(json.dumps(metrics, indent=2).encode()))
    written = write_figures(trained, solver, data, args, run_dir, data_dir, builtin)
    print_summary(metrics, builtin)
    print(f"wrote {run_dir}/{', '.join(written)}")
    return 0


def write_figures(trained, solver, data, args, run_dir, data_dir, builtin):
    """loss.png (when anything was trained) and samples.png; their names
    with the other files of the run.

    - trained: the solvers that ran, by their resume flag"""
    written = ["model.npz", "metrics.json"] if trained else ["metrics.json"]
    if trained:
        cross_entropy, scst = trained.get("--resume"), trained.get("--scst-resume")
        save_figure(plot_training(
            cross_entropy.loss_history if cross_entropy else [],
            cross_entropy.val_history if cross_entropy else [],
            reward_history=scst.reward_history if scst else [],
            scst_val_history=scst.val_history if scst else []), run_dir / "loss.png")
        written.append("loss.png")
    save_figure(sample_figure(solver.model, data, beam_size=args.beam_size,
                              data_dir=data_dir if builtin else None), run_dir / "samples.png")
    return written + ["samples.png"]


def print_summary(metrics, builtin):
    print(f"{metrics['split']} BLEU-4 {metrics['Bleu_4']:.3f}  CIDEr-D {metrics['CIDEr']:.3f}"
          + (f"  METEOR {metrics['METEOR']:.3f}" if "METEOR" in metrics else "")
          + (f"  strict scene accuracy {metrics['strict_accuracy']:.1%}" if builtin else "")
          + f"  ({metrics['train_seconds']:.0f} s)")
    if builtin:
        novel = metrics["novel"]
        print(f"errors on test: {_errors(metrics['strict_errors'])}")
        print(f"novel colour-shape pairs: strict scene accuracy {novel['strict_accuracy']:.1%}"
              f"  CIDEr-D {novel['CIDEr']:.3f}")
    if "self_critical" in metrics:
        sc = metrics["self_critical"]
        before = sc["val_CIDEr_before"]
        change = (f"val CIDEr-D {before:.3f} -> {sc['val_CIDEr_after']:.3f}" if before is not None
                  else f"val CIDEr-D of the chosen checkpoint {sc['val_CIDEr_after']:.3f}")
        print(f"self-critical phase: {change}, mean reward {sc['reward_first_epoch']:.3f} -> "
              f"{sc['reward_last_epoch']:.3f} ({sc['seconds']:.0f} s)")


def _errors(counts):
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "none"


if __name__ == "__main__":
    sys.exit(main())
