# task: sat/queens-8
# kind: escape
# what: connects to a loopback listener through _socket, behind any Python-level block
import _socket

connection = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
connection.connect(("127.0.0.1", @PORT@))
connection.send(b"hello from the guest")
