# task: sat/sudoku-9-a
# kind: escape
# what: opens a socket of any other family: netlink, packet, IPv6, abstract UNIX, vsock, crypto, a pair
import _socket

opened = []
for family, kind, protocol in [(16, 3, 0), (17, 3, 0), (10, 1, 0), (1, 2, 0), (40, 1, 0), (38, 5, 0), (4, 2, 0)]:
    try:
        _socket.socket(family, kind, protocol)
        opened.append(family)
    except OSError:
        pass
try:
    _socket.socketpair()
    opened.append("pair")
except OSError:
    pass
assert opened
