def compute(x):
    """Docstring: a function breakpoint stops below it."""
    y = x + 100  # @compute_body
    return y


class Greeter:
    def greet(self, name):
        message = "hello " + name  # @greet_body
        return message
