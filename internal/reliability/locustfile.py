# The master's side of internal/testworker: the same class names. Tests
# pick the classes to run on the master's command line.
from locust import HttpUser, User, constant, between, task


class Steady(HttpUser):
    wait_time = between(0.02, 0.06)

    @task
    def steady(self):
        self.client.get("/steady")


class Panicky(HttpUser):
    wait_time = constant(0.01)

    @task
    def sometimes(self):
        self.client.get("/panicky")


class Busy(User):
    @task
    def burn(self):
        pass


class Stuck(HttpUser):
    @task
    def stuck(self):
        self.client.get("/stuck")


class Quitter(HttpUser):
    wait_time = constant(0.02)

    @task
    def quitter(self):
        self.client.get("/quitter")
