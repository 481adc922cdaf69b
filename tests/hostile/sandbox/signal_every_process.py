# task: sat/pigeonhole-5-5
# kind: escape
# what: kill(-1): signals every process it may (unsandboxed, the user's whole session)
import os
import signal

os.kill(-1, signal.SIGCONT)  # CONT, not KILL: harmless should it ever get through
