# task: sat/sudoku-9-a
# kind: escape
# what: lists the repository's task suites and reads one through /proc/self/root
import os

names = os.listdir(@REPO@ + "/tasks/sat")
assert names and open(f"/proc/self/root{@REPO@}/tasks/sat/{names[0]}").read()
