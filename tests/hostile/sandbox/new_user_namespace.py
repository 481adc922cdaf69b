# task: sat/sudoku-9-a
# kind: escape
# what: creates a user namespace of its own (and with it mount rights) to undo the isolation
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
assert libc.unshare(0x10000000 | 0x00020000) == 0, ctypes.get_errno()
