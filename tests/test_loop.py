"""What the training loop sends to the sink: every step's signals, a learning rate only where it
changes (drawn as steps, not ramps), and a training rate at each observation."""

from __future__ import annotations

from collections import defaultdict

from workers.loop import train


class StepDecay:
    """A family of one number: its loss falls as 1/(step+1); its lr halves at step 6."""

    def __init__(self) -> None:
        self.lr = 0.1

    def step(self, step: int) -> dict[str, float]:
        if step == 6:
            self.lr = 0.05
        return {"train/loss": 1.0 / (step + 1), "train/lr": self.lr}

    def observe(self, step: int) -> dict[str, float]:
        return {"obs/x": float(step)}

    def state_dict(self) -> dict:
        return {}


class Recorder:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.history[key].append((step, value))

    def flush(self) -> None:
        pass


def test_a_constant_lr_is_logged_where_it_changes_and_rates_at_observations():
    sink = Recorder()
    outcome = train(StepDecay(), sink, steps=10, observe_every=5, checkpoint_every=0)
    assert not outcome.diverged and outcome.last["train/lr"] == 0.05
    assert [s for s, _ in sink.history["train/loss"]] == list(range(10))
    assert sink.history["train/lr"] == [(0, 0.1), (5, 0.1), (6, 0.05), (9, 0.05)]
    assert [s for s, _ in sink.history["sys/steps_per_s"]] == [0, 5, 9] == [s for s, _ in sink.history["obs/x"]]
    assert all(rate > 0 for _, rate in sink.history["sys/steps_per_s"])


def test_a_resumed_run_logs_the_lr_at_its_first_step():
    sink = Recorder()
    train(StepDecay(), sink, steps=10, observe_every=5, checkpoint_every=0, start_step=7)
    assert sink.history["train/lr"] == [(7, 0.1), (9, 0.1)]
