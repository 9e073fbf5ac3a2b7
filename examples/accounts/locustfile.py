# The master's side of examples/accounts, and a Python worker's.
#
# The master reads accounts.csv (5,000 test accounts) and, when a test
# starts, sends each worker a disjoint slice of it in the custom message
# "accounts": Locust's runner.send_message with client_id. Go workers take
# the slice with worker.Feeder's Receive (see main.go); a Python worker
# takes it with the handler below. Each user logs in with an account of
# its own and gives it back when it stops.
#
#   locust -f locustfile.py --master --host http://127.0.0.1:8080
#   go run ./examples/accounts --master-host 127.0.0.1     (as many as you like)
#   locust -f locustfile.py --worker                       (Python workers too)
import csv
import os

from locust import HttpUser, between, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

ACCOUNTS_CSV = os.environ.get("ACCOUNTS_CSV", os.path.join(os.path.dirname(os.path.abspath(__file__)), "accounts.csv"))


@events.test_start.add_listener
def hand_out_accounts(environment, **kwargs):
    """On the master: give each worker its own slice of the accounts."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    with open(ACCOUNTS_CSV, newline="") as f:
        accounts = list(csv.DictReader(f))
    workers = sorted(node.id for node in runner.clients.values())
    for i, worker_id in enumerate(workers):
        runner.send_message("accounts", accounts[i :: len(workers)], client_id=worker_id)


# A Python worker's accounts, free to take.
free_accounts = []


def receive_accounts(environment, msg, **kwargs):
    free_accounts[:] = msg.data


@events.init.add_listener
def on_init(environment, **kwargs):
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("accounts", receive_accounts)


class Customer(HttpUser):
    wait_time = between(0.2, 0.6)

    def on_start(self):
        if not free_accounts:
            raise StopUser()
        self.account = free_accounts.pop()
        self.client.post("/login", data={"username": self.account["username"], "password": self.account["password"]})

    def on_stop(self):
        if hasattr(self, "account"):
            self.client.post("/logout")
            free_accounts.append(self.account)

    @task(3)
    def orders(self):
        self.client.get("/orders")

    @task
    def home(self):
        self.client.get("/")
