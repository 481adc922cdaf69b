# task: sat/flat30-1
# kind: escape
# what: connects to a loopback listener with raw system calls through ctypes, bypassing Python
import ctypes
import struct

libc = ctypes.CDLL(None, use_errno=True)
descriptor = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
assert descriptor >= 0, ctypes.get_errno()
address = struct.pack("!HH4s8x", 2, @PORT@, bytes([127, 0, 0, 1]))
address = struct.pack("=H", 2) + address[2:]
assert libc.connect(descriptor, address, len(address)) == 0, ctypes.get_errno()
