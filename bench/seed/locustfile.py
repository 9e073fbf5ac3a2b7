# The master's side of the seed benchmark (bench/seed): the class names and
# weights of the Go users, and the --login-ratio option they read. The
# master only uses names and weights; the tasks stand in for Python workers.
from locust import HttpUser, constant_pacing, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--login-ratio", type=float, default=0.3, help="share of users that log in")


class WebUser(HttpUser):
    weight = 3
    wait_time = constant_pacing(60)

    @task
    def home(self):
        self.client.get("/")


class MobileUser(HttpUser):
    weight = 1
    wait_time = constant_pacing(60)

    @task
    def items(self):
        self.client.get("/api/items")
