# Declares --max-rps so that the master's value reaches its Go workers in
# parsed_options (golocust reads max_rps), for the worker class Steady of
# internal/testworker.
from locust import HttpUser, between, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--max-rps", type=float, default=0, help="cap on task iterations per second, per worker")


class Steady(HttpUser):
    wait_time = between(0.02, 0.06)

    @task
    def steady(self):
        self.client.get("/steady")
