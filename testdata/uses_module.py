import mod_helper

value = mod_helper.compute(1)  # @call
greeting = mod_helper.Greeter().greet("qdb")  # @greet
print(value, greeting)
