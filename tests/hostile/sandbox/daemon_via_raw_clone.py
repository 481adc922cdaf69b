# task: sat/pigeonhole-5-5
# kind: escape
# what: starts a process with the raw clone system call (not glibc's fork), then a new session
import ctypes
import time

libc = ctypes.CDLL(None, use_errno=True)
child = libc.syscall(56, 17, 0, 0, 0, 0)  # clone(SIGCHLD) on x86-64
if child == 0:
    libc.setsid()
    libc.prctl(15, @MARK@.encode(), 0, 0, 0)
    time.sleep(120)
    libc._exit(0)
assert child > 0, ctypes.get_errno()
