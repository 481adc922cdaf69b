# task: sat/schedule-8
# kind: escape
# what: starts a program (a shell that leaves a mark) through subprocess, posix_spawn and exec
import os
import subprocess

command = ["/bin/sh", "-c", "echo ran > " + @STAGE@ + "/spawned.txt; exec -a " + @MARK@ + " sleep 120"]
started = 0
for attempt in (lambda: subprocess.Popen(command, start_new_session=True),
                lambda: os.posix_spawn(command[0], command, {})):
    try:
        attempt()
        started += 1
    except OSError:
        pass
assert started
