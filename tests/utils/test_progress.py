"""vssl.utils.progress: one reporter, a rich bar on a terminal and plain lines elsewhere."""

from __future__ import annotations

import rich.console

from vssl.utils.progress import Progress


def test_plain_lines_off_a_terminal_first_then_at_the_end(capsys):
    with Progress("test features", 3) as bar:
        for _ in range(3):
            bar.advance()
    err = capsys.readouterr().err.splitlines()
    assert err == ["test features 1/3", "test features 3/3"]  # every 30 s between: none here


def test_a_stats_reporter_writes_only_with_a_text(capsys):
    p = Progress("pretrain", 4, start=1, stats=True, label="step", every_s=0.0)
    p.update(2)
    p.update(3, "loss 1.2000")
    p.update(4)
    p.close()
    assert capsys.readouterr().err.splitlines() == ["step 3/4 loss 1.2000"]


def test_disabled_or_empty_reports_nothing(capsys):
    for p in (Progress("a", 5, enabled=False), Progress("b", 0)):
        p.advance(2, "x")
        p.close()
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_bar_and_no_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    with Progress("finetune", 10, start=4, stats=True) as p:
        assert p._bar is not None
        p.advance(3, "loss 0.5")
        assert p.done == 7 and p._bar.tasks[0].completed == 7 and p._bar.tasks[0].fields["stats"] == "loss 0.5"
    assert p._bar is None
    assert "finetune 7/10" not in capsys.readouterr().err
