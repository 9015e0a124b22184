"""Property-based fuzzing of `python -m trainables.train --set KEY=VALUE` (issue 14): random keys
(real ones, typos, empty parts, too deep) and values (JSON of any type, NaN/Infinity/1e999,
non-JSON text, bad mixtures).

Property: either the options are accepted (`--dry-run` exits 0 and prints the resolved config,
which resolves again to itself: the round trip through `config.json`), or the command exits 2
with exactly one line `error: ...` naming the key (or `--set`), no traceback, and the run folder
is not created (the real command is run too for rejected options).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from _documents import SEED, SET_KEYS, SET_VALUES, examples
from hypothesis import given, seed
from hypothesis import strategies as st

from trainables.config import resolve_config
from trainables.train import main



def _train(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@examples(300)
@seed(SEED)
@given(options=st.lists(st.tuples(SET_KEYS, SET_VALUES), min_size=1, max_size=3),
       data=st.sampled_from(["ring8", "grid25", "mixture", "mnist"]))
def test_set_options_are_accepted_or_named(options, data):
    argv = ["--gan", "tripletgan", "--data", data, "--steps", "2", "--eval-every", "1"]
    for key, value in options:
        argv += ["--set", f"{key}={value}"]
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "run"
        rc, out, err = _train(*argv, "--dry-run", "--out", str(out_dir))
        if rc == 0:
            resolved = json.loads(out)
            assert resolve_config(resolved).to_dict() == resolved  # config.json reads back as itself
            assert not out_dir.exists()
            return
        assert rc == 2, (rc, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
        named = {k.split(".")[0] for k, _ in options} | {k for k, _ in options} | {"--set", "data", "gan"}
        assert any(name and name in lines[0] for name in named), (options, lines[0])
        rc2, _, err2 = _train(*argv, "--out", str(out_dir))
        assert (rc2, err2) == (rc, err) and not out_dir.exists()
