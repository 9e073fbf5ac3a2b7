from locust import User, task


class Sleeper(User):
    @task
    def sleep(self):
        pass
