# task: sat/queens-8
# kind: escape
# what: leaves a daemon in a new session that outlives the call
import ctypes
import os
import time

child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, @MARK@.encode(), 0, 0, 0)
        time.sleep(120)
    os._exit(0)
