# task: sat/flat30-1
# kind: escape
# what: four processes of 700 MB each, 2.8 GB together against a 1 GB limit
import os
import time

children = 0
for _ in range(3):
    if os.fork() == 0:
        ballast = bytearray(700 << 20)
        time.sleep(3)
        os._exit(0)
    children += 1
ballast = bytearray(700 << 20)
assert children == 3
