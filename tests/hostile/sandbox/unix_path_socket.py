# task: sat/schedule-8
# kind: escape
# what: connects to a listening UNIX socket file (an agent, a database, a container daemon)
import _socket

connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
connection.connect(@UNIX@)
connection.send(b"hello from the guest")
