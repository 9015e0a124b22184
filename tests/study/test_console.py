"""The compact console view of a running study (study/console.py), driven by fake Tune trials and a
fake clock, and its float and control-code rules."""

import re
from types import SimpleNamespace

from study.console import ConsoleView, clock, sig

NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?:e[-+]?\d+)?")


def trial(tid: str, gan: str, last=None):
    return SimpleNamespace(trial_id=tid, config={"study": {"gan": gan}}, last_result=last or {})


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def significant(number: str) -> int:
    mantissa = number.split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def view(every=90.0):
    lines, now = [], Clock()
    v = ConsoleView("eval/fit", "max", max_steps=6000, planned={"mmd_rep": 2, "tripletgan": 2}, every=every,
                    out=lines.append, now=now)
    return v, lines, now


def test_progress_counts_running_steps_and_whole_budgets_of_ended_trials():
    v, lines, now = view()
    a, b, c = trial("a", "mmd_rep"), trial("b", "tripletgan"), trial("c", "mmd_rep")
    for t in (a, b):
        v.on_trial_start(0, [], t)
    assert lines == ["[mmd_rep] trial a started", "[tripletgan] trial b started"]
    v.on_trial_result(0, [], a, {"step": 3000, "eval/fit": 0.41234567})
    v.on_trial_result(0, [], a, {"step": 6000, "eval/fit": 0.3})  # worse: best stays 0.412 at 3000
    v.on_trial_result(0, [], b, {"step": 1000, "eval/fit": 0.1})
    v.on_trial_complete(0, [], a)  # reached max_steps: done
    b.last_result = {"step": 1000}
    v.on_trial_complete(0, [], b)  # stopped at a rung: its remaining 5,000 steps never run
    v.on_trial_start(0, [], c)
    v.on_trial_result(0, [], c, {"step": 1500, "eval/fit": 0.2})
    assert v.progress() == (6000 + 6000 + 1500, 4 * 6000)
    now.t += 270.0
    block = v.block()
    assert block[0] == "[4:30] ###########......... 56% of 24,000 trial steps, ETA 3:30"
    assert block[1] == "  mmd_rep     running 1  done 1  stopped 0  failed 0  best eval/fit 0.412 (step 3000)"
    assert block[2] == "  tripletgan  running 0  done 0  stopped 1  failed 0  best eval/fit 0.1 (step 1000)"


def test_blocks_come_at_most_every_interval_and_failures_are_counted():
    v, lines, now = view(every=60)
    t = trial("x", "tripletgan")
    v.on_trial_start(0, [], t)
    v.on_step_end(0, [])
    assert len(lines) == 1  # nothing before the interval
    now.t += 61
    v.on_step_end(0, [])
    assert len(lines) == 4 and lines[1].startswith("[1:01] ") and lines[1].endswith("ETA -")
    v.on_step_end(0, [])
    assert len(lines) == 4  # the next one waits a whole interval again
    t.last_result = {"step": 200, "diverged": 1}
    v.on_trial_complete(0, [], t)
    assert "failed 1" in v.block()[2] and "best eval/fit -" in v.block()[2]
    v.on_trial_error(0, [], trial("y", "mmd_rep"))
    assert "failed 1" in v.block()[1]


def test_min_mode_keeps_the_lowest_value():
    lines = []
    v = ConsoleView("eval/fid", "min", 100, {"nsgan": 1}, out=lines.append, now=Clock())
    t = trial("f", "nsgan")
    for step, fid in ((50, 80.123), (100, 95.0)):
        v.on_trial_result(0, [], t, {"step": step, "eval/fid": fid})
    assert v.block()[1].endswith("best eval/fid 80.1 (step 50)")


def test_floats_have_at_most_four_significant_digits_and_no_control_codes():
    v, lines, now = view()
    t = trial("a", "mmd_rep")
    v.on_trial_start(0, [], t)
    v.on_trial_result(0, [], t, {"step": 123, "eval/fit": 0.35190899653824226})
    now.t += 12345.678
    v.print_block()
    text = "\n".join(lines)
    assert "\x1b" not in text and "\r" not in text
    numbers = NUMBER.findall(text)
    assert numbers and all(significant(n) <= 4 for n in numbers), numbers
    assert clock(3725) == "1:02:05" and clock(59.6) == "1:00" and sig(3.16085e-05) == "3.16e-05" and sig(None) == "-"


def test_a_failed_trial_line_gives_its_reason(tmp_path):
    from study.callbacks import failure_reason

    error = tmp_path / "error.txt"
    error.write_text("Failure # 1 (occurred at 2026-12-04)\nTraceback (most recent call last):\n  File \"x.py\"\n"
                     "RuntimeError: CUDA out of memory\n\n")
    line = failure_reason(SimpleNamespace(error_file=str(error)), None, "error")
    assert line == f"RuntimeError: CUDA out of memory (error file: {error})"
    diverged = SimpleNamespace(data=SimpleNamespace(tags={"diverged_losses": '{"loss/d": "nan"}'}))
    assert failure_reason(trial("t", "nsgan"), diverged, "diverged") == 'losses {"loss/d": "nan"}'
    assert failure_reason(SimpleNamespace(error_file=None), None, "error") == "no error file (error file: None)"
