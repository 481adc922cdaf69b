# task: sat/queens-8
# kind: escape
# what: replaces the guest with a shell through execve (no emit follows; the mark is checked outside)
import os

os.execv("/bin/sh", ["/bin/sh", "-c", "echo ran > " + @STAGE@ + "/exec.txt"])
