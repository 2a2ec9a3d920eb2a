# Setting breakpoints must run none of this program's code under eval policy "none".
class Trap:
    @property
    def method(self):
        print("PROPERTY RAN")
        return len


trap = Trap()


def main():
    x = 1  # @trap_main
    return x


main()
print("done")
