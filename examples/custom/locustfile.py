# The master's side of examples/custom: the same class name as main.go,
# and its --echo-addr option. The master only uses names, weights and
# options; the Go worker does the TCP work.
from locust import User, between, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--echo-addr", type=str, default="", help="host:port of the TCP echo server")


class EchoUser(User):
    wait_time = between(0.01, 0.05)

    @task
    def echo(self):
        pass  # the Go worker records tcp/short, tcp/long and tcp/connect
