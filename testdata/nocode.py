# a comment on line 1

x = 1  # @x


y = 2  # @y
