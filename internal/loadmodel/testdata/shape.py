# A LoadTestShape that goes up, holds and comes down, for the Go worker's
# class Shaped (internal/testworker): 10 users, then 30, then 5, then the
# end of the test.
from locust import HttpUser, LoadTestShape, between, task


class Shaped(HttpUser):
    wait_time = between(0.02, 0.06)

    def on_start(self):
        self.client.get("/shaped/start")

    def on_stop(self):
        self.client.get("/shaped/stop")

    @task
    def shaped(self):
        self.client.get("/shaped")


class UpHoldDown(LoadTestShape):
    # (end of the step in seconds, users, spawn rate)
    steps = [(4, 10, 20), (10, 30, 20), (16, 5, 20)]

    def tick(self):
        run_time = self.get_run_time()
        for end, users, rate in self.steps:
            if run_time < end:
                return (users, rate)
        return None
