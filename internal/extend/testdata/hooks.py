# The master's side of internal/testworker's class Hooked: it prints each
# custom message the Go worker sends, one line per message, for the test
# to read back.
from locust import HttpUser, between, events, task
from locust.runners import MasterRunner


class Hooked(HttpUser):
    wait_time = between(0.02, 0.06)

    @task
    def hooked(self):
        self.client.get("/hooked")


def printer(name):
    def handler(msg, **kwargs):
        print("GO_MESSAGE %s %s %r" % (name, msg.node_id, msg.data), flush=True)

    return handler


@events.init.add_listener
def on_init(environment, **kwargs):
    if isinstance(environment.runner, MasterRunner):
        for name in ("hello", "test_start", "test_stop", "seen"):
            environment.runner.register_message(name, printer(name))
