from genesys_export.budget import RequestBudget


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_sixty_second_window_exceeds_the_budget() -> None:
    """Requests drawn as fast as allowed never exceed per_minute in any 60 s window."""
    t = FakeTime()
    budget = RequestBudget(120, clock=t.clock, sleep=t.sleep)
    stamps = []
    for _ in range(600):
        budget.acquire()
        stamps.append(t.now)
    worst = max(sum(1 for s in stamps if start <= s < start + 60) for start in stamps)
    assert 110 <= worst <= 120


def test_a_429_pauses_everyone_and_slows_the_rate() -> None:
    t = FakeTime()
    budget = RequestBudget(300, clock=t.clock, sleep=t.sleep)
    budget.acquire()
    budget.rate_limited(5.0)
    budget.acquire()
    assert t.now >= 5.0
    assert budget.rate < budget.base_rate
    for _ in range(100):
        budget.succeeded()
    assert budget.rate > budget.base_rate * 0.7
