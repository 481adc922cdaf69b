# task: sat/schedule-8
# kind: escape
# what: three threads of 450 MB each, 1.35 GB together against a 1 GB limit
import threading

held = []


def allocate():
    try:
        held.append(bytearray(450 << 20))
    except MemoryError:
        pass


threads = [threading.Thread(target=allocate) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert len(held) == 3
