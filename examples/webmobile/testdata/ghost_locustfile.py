# examples/webmobile's classes plus GhostUser, a class the Go worker does
# not have. With 44 users the master gives GhostUser its fixed 4 and shares
# the other 40 between WebUser and MobileUser 3:1.
from locust import HttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--login-ratio", type=float, default=0.3)


class WebUser(HttpUser):
    weight = 3
    wait_time = constant(1)

    @task
    def home(self):
        self.client.get("/")


class MobileUser(HttpUser):
    weight = 1
    wait_time = constant(1)

    @task
    def feed(self):
        self.client.get("/api/feed")


class GhostUser(HttpUser):
    fixed_count = 4
    wait_time = constant(1)

    @task
    def boo(self):
        self.client.get("/boo")
