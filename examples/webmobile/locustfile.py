# The master's side of examples/webmobile: the same class names, weights,
# tags and custom option as main.go. A Locust master uses only the names,
# weights, tags and options; the tasks below mirror the Go ones so that this
# file also runs with Python workers against the demo shop.
#
#   locust -f locustfile.py --master --login-ratio 0.5
import random

from locust import HttpUser, SequentialTaskSet, between, constant_pacing, events, tag, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument(
        "--login-ratio",
        type=float,
        default=0.3,
        include_in_web_ui=True,
        help="share of users that log in when they start (0 to 1)",
    )


class Session:
    logged_in = False

    def open_visit(self, client):
        self.client.get(f"/session/new?client={client}", name="/session/new")
        if random.random() < self.environment.parsed_options.login_ratio:
            self.client.post("/login", data={"user": "demo"})
            self.logged_in = True

    def get_protected(self, path):
        with self.client.get(path, catch_response=True) as r:
            if not self.logged_in and r.status_code == 401:
                r.success()


class Checkout(SequentialTaskSet):
    def on_start(self):
        if not self.user.logged_in:
            self.interrupt()

    @task
    def add_to_cart(self):
        self.client.post("/cart", json={"item": random.randrange(500)})

    @task
    def view_cart(self):
        self.client.get("/cart")

    @task
    def pay(self):
        self.client.post("/checkout", json={})
        self.interrupt()


class WebUser(Session, HttpUser):
    weight = 3
    wait_time = between(0.5, 2)

    def on_start(self):
        self.open_visit("web")

    @tag("browse")
    @task(10)
    def home(self):
        self.client.get("/")

    @tag("browse")
    @task(6)
    def item(self):
        self.client.get(f"/item/{random.randrange(500)}", name="/item/[id]")

    @tag("browse")
    @task(3)
    def search(self):
        q = random.choice(["shoes", "hat", "coat", "zzyzx"])
        with self.client.get(f"/search?q={q}", name="/search", catch_response=True) as r:
            if r.ok and "No results" in r.text:
                r.failure("search found nothing")

    @tag("account")
    @task(1)
    def account(self):
        self.get_protected("/account")

    tasks = {tag("account")(Checkout): 1}


class MobileUser(Session, HttpUser):
    weight = 1
    wait_time = constant_pacing(1)

    def on_start(self):
        self.open_visit("mobile")

    @tag("browse")
    @task(8)
    def feed(self):
        self.client.get("/api/feed")

    @tag("browse")
    @task(4)
    def item(self):
        with self.client.get(f"/api/items/{random.randrange(200)}", name="/api/items/[id]", catch_response=True) as r:
            if r.status_code == 404:
                r.success()

    @tag("account")
    @task(1)
    def profile(self):
        self.get_protected("/api/profile")
