# The master's side of examples/http: the same class names and weights as
# main.go. A Locust master only needs the classes' names and weights; the
# tasks below mirror the Go ones so this file also runs with Python workers.
import random

from locust import HttpUser, between, constant, task


class WebUser(HttpUser):
    weight = 2
    wait_time = between(0.05, 0.15)

    def on_start(self):
        self.client.get("/hello/web")

    @task(2)
    def home(self):
        self.client.get("/")

    @task(1)
    def item(self):
        self.client.get(f"/item/{random.randrange(100)}", name="/item/[id]")


class APIUser(HttpUser):
    weight = 1
    wait_time = constant(0.1)

    def on_start(self):
        self.client.get("/hello/api")

    @task
    def status(self):
        self.client.get("/api/status")
