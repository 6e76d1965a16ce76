"""Check a learner's own exercise code against the library, and say what is wrong.

    python check_implementation.py path/to/rnn_layers.py
    python check_implementation.py rnn_layers.py classifiers/rnn.py optim.py --json

Give any of your files: the layers (``rnn_step_forward`` ... ``lstm_backward``,
``word_embedding_*``, ``temporal_*``), the model file with ``CaptioningRNN``
(its ``from ..rnn_layers import *`` finds your layers file) and ``optim.py``.
Every exercise function found is checked on several shapes (N=1, T=1 and
H != D among them): signature, values against the library, gradients against
the library and against centred differences, float32 in -> float32 out, no
input modified. Each failure gets a diagnosis: the known mistake whose wrong
variant reproduces your outputs, with the equation it breaks.

Your code runs in a child process, one per function, with a time limit:
syntax errors, import errors, hangs and crashes are reported, never fatal.
The exit status is 0 only when every function checked passes. In a notebook:
``from check_implementation import check; check("rnn_layers.py")``.
"""
import argparse
import importlib.util
import json
import multiprocessing
import sys
import traceback
import types
from pathlib import Path

__all__ = ["check", "run_checks", "format_report", "main"]

DEFAULT_TIMEOUT = 30.0
_GROUPS = {"CaptioningRNN.loss": "model", "CaptioningRNN.sample": "model", "sgd": "optim",
           "sgd_momentum": "optim", "rmsprop": "optim", "adam": "optim"}


def _load_learner(paths):
    """The learner's files as one namespace. Layer files load first; a model
    file's exercise-style imports (``from ..rnn_layers import *``, or the flat
    ``from rnn_layers import *``) get the learner's layers when given."""
    import rnn_layers            # the library first: it keeps its own references
    import layers
    paths = [Path(p) for p in paths]
    is_model = {p: "class CaptioningRNN" in p.read_text(encoding="utf-8", errors="replace")
                for p in paths}
    package = types.ModuleType("cs231n")
    package.__path__ = []
    classifiers = types.ModuleType("cs231n.classifiers")
    classifiers.__path__ = []
    sys.modules.update({"cs231n": package, "cs231n.classifiers": classifiers,
                        "cs231n.layers": layers, "cs231n.rnn_layers": rnn_layers})
    modules = []
    for path in sorted(paths, key=lambda p: is_model[p]):
        name = f"cs231n.classifiers.{path.stem}" if is_model[path] else f"learner_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "cs231n.classifiers" if is_model[path] else ""
        sys.modules[name] = module
        spec.loader.exec_module(module)
        if not is_model[path] and hasattr(module, "rnn_step_forward"):
            sys.modules["cs231n.rnn_layers"] = sys.modules["rnn_layers"] = module
        if path.stem == "optim":
            sys.modules["cs231n.optim"] = module
        modules.append(module)
    names = {n for m in modules for n in vars(m) if not n.startswith("_")}
    return types.SimpleNamespace(**{n: next(getattr(m, n) for m in modules if hasattr(m, n))
                                    for n in names})


def _child(paths, name, conn):
    """In the child: load the learner's files and check one function (None:
    only load them)."""
    try:
        from rnn_captioning.checker import checks as ic    # the library before the learner's aliases
        learner = _load_learner(paths)
        if name is None:
            conn.send({"loaded": True})
            return
        spec = next(s for s in ic.SPECS if s.name == name)
        conn.send(ic.check_function(spec, learner))
    except BaseException as e:      # SyntaxError, ImportError, SystemExit: report them
        where = ""
        if isinstance(e, SyntaxError):
            where = f" ({Path(e.filename or '').name}, line {e.lineno})"
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if str(f.filename) in {str(Path(p).resolve()) for p in paths}
                  or str(f.filename) in {str(p) for p in paths}]
        if frames and not where:
            where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"
        conn.send({"error": f"{type(e).__name__}: {e}{where}"})
    finally:
        conn.close()


def _in_child(paths, name, timeout):
    """Run _child in a fresh process; (result, None) or (None, why it failed)."""
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=([str(p) for p in paths], name, send), daemon=True)
    proc.start()
    send.close()
    try:
        if receive.poll(timeout):
            return receive.recv(), None
        return None, f"timed out after {timeout:g} s (an endless loop?)"
    except EOFError:
        return None, "the process died without a result (a crash in native code?)"
    finally:
        proc.kill()
        proc.join()
        receive.close()


def run_checks(paths, *, timeout=DEFAULT_TIMEOUT, only=None):
    """Check every exercise function found in ``paths`` (or those named in
    ``only``); a list of result dicts (see checks.check_function)."""
    from rnn_captioning.checker import checks as ic
    specs = [s for s in ic.SPECS if only is None or s.name in only]
    unknown = set(only or ()) - {s.name for s in ic.SPECS}
    if unknown:
        raise ValueError(f"unknown exercise functions {sorted(unknown)}; known: "
                         f"{[s.name for s in ic.SPECS]}")
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"no such file: {p}")
    loaded, why = _in_child(paths, None, timeout)
    if loaded is None or "error" in loaded:
        message = f"could not load your files: {why or loaded['error']}"
        return [_result(s.name, "crashed", message) for s in specs]
    results = []
    for spec in specs:
        result, why = _in_child(paths, spec.name, timeout)
        if result is None or "error" in result:
            result = _result(spec.name, "crashed", why or result["error"])
        results.append(result)
    return results


def _result(name, status, message):
    return {"name": name, "status": status, "score": 0.0, "errors": {}, "checks": {},
            "message": message, "diagnosis": None}


def _given(results):
    """Groups (layers, model, optim) the learner gave at least one function of."""
    return {_GROUPS.get(r["name"], "layers") for r in results if r["status"] != "missing"}


def passed(results):
    """Every function checked passed (absent groups are not counted against)."""
    given = _given(results)
    checked = [r for r in results if _GROUPS.get(r["name"], "layers") in given]
    return bool(checked) and all(r["status"] == "pass" for r in checked)


def format_report(results):
    """One line per function, then a diagnosis for each failure."""
    given = _given(results)
    lines = []
    for r in results:
        if _GROUPS.get(r["name"], "layers") not in given:
            continue
        worst = max(r["errors"].values(), default=0.0)
        detail = r["message"] if r["status"] != "pass" else f"max relative error {worst:.1e}"
        lines.append(f"{r['name']:26s} {r['status'].upper():8s} {detail}")
    failures = [r for r in results if r["status"] == "fail"]
    if failures:
        lines += ["", "Diagnosis:"]
    for r in failures:
        worst = ", ".join(f"{k} {v:.1e}" for k, v in r["errors"].items() if v >= 1e-7)
        lines.append(f"- {r['name']}: relative errors {worst or 'small'}")
        d = r["diagnosis"]
        if d:
            lines.append(f"    looks like: {d['description']}")
            lines.append(f"    the equation it breaks: {d['equation']}")
        elif r["checks"].get("values") is False and \
                r["checks"].get("gradients vs centred differences"):
            lines.append("    the gradients match centred differences of your own forward: "
                         "the forward it relies on is what differs from the exercise")
        else:
            lines.append("    no known mistake matches; compare with the equations "
                         "line by line")
    lines.append("")
    lines.append("ALL CHECKS PASS" if passed(results) else "SOME CHECKS FAIL")
    return "\n".join(lines)


def check(*paths, timeout=DEFAULT_TIMEOUT, only=None):
    """For a notebook cell: print the report of the learner's files and
    return whether everything checked passes."""
    results = run_checks(paths, timeout=timeout, only=only)
    print(format_report(results))
    return passed(results)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="your exercise files")
    ap.add_argument("--json", action="store_true",
                    help="print a JSON report (name, status, score, message per function)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds each function may take")
    ap.add_argument("--only", nargs="+", default=None, metavar="FUNCTION",
                    help="check only these functions (e.g. lstm_backward CaptioningRNN.loss)")
    args = ap.parse_args(argv)
    try:
        results = run_checks(args.files, timeout=args.timeout, only=args.only)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_json_entry(r) for r in results], indent=2))
    else:
        print(format_report(results))
    return 0 if passed(results) else 1


def _json_entry(r):
    message = r["message"]
    if r["diagnosis"]:
        message += f"; looks like: {r['diagnosis']['description']}"
    return {"name": r["name"], "status": r["status"], "score": r["score"],
            "message": message, "mistake": (r["diagnosis"] or {}).get("id"),
            "errors": {k: (v if v != float("inf") else None) for k, v in r["errors"].items()}}


if __name__ == "__main__":
    sys.exit(main())
